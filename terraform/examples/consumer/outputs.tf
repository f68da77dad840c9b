output "folder_uid" {
  description = "The folder created with the rotated token."
  value       = grafana_folder.managed.uid
}
