"""Holds the Terraform module to the code: parses every .tf file with python-hcl2 and checks
that the Lambda functions match the Lambda crates, that the ASL's placeholders match the
templatefile() variables, and that every function's IAM policy grants exactly the actions
deploy/iam-actions.json lists for it.

Run: .venv/bin/python terraform/tests/test_module.py   (scripts/test.sh does)
"""

import json
import re
import sys
import unittest
from pathlib import Path

import hcl2

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
MODULE = TERRAFORM / "modules" / "keyshift"
ASL = ROOT / "statemachine" / "rotate-workspace.asl.json"
IAM_ACTIONS = ROOT / "deploy" / "iam-actions.json"


def unwrap(value):
    """python-hcl2 wraps some attribute values in one-element lists; take them out."""
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value


def parse(path):
    with open(path, encoding="utf-8") as handle:
        return hcl2.load(handle)


def module_files():
    return sorted(MODULE.glob("*.tf"))


def resources(kind, type_name):
    """(name, body) of every `kind "type_name" "name"` block in the module."""
    found = []
    for path in module_files():
        for block in parse(path).get(kind, []):
            for type_key, named in block.items():
                if type_key != type_name:
                    continue
                for name, body in named.items():
                    found.append((name, body))
    return found


def module_locals():
    merged = {}
    for path in module_files():
        for block in parse(path).get("locals", []):
            for key, value in block.items():
                if key.startswith("__"):
                    continue
                assert key not in merged, f"local.{key} is defined twice"
                merged[key] = value
    return merged


def literal_strings(value):
    """The list of plain strings of a literal HCL list (fails on an expression)."""
    while isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        value = value[0]
    if not isinstance(value, list):
        raise AssertionError(f"expected a literal list of strings, found the expression {value}")
    return [unwrap(item) for item in value]


def resolve_local(value):
    """The value of a module local when value is a bare `local.name` reference, else value."""
    reference = re.fullmatch(r"\$\{local\.([A-Za-z0-9_]+)\}", str(unwrap(value)))
    return module_locals()[reference.group(1)] if reference else value


def lambda_crates():
    """Crates whose binary is a Lambda: a src/main.rs serving through keyshift_lambda (or
    lambda_runtime directly)."""
    crates = set()
    for manifest in sorted((ROOT / "crates").glob("*/Cargo.toml")):
        main = manifest.parent / "src" / "main.rs"
        if not main.exists():
            continue
        text = main.read_text(encoding="utf-8")
        serves = re.search(r"keyshift_lambda::(adapters::serve_step|serve)\s*\(", text)
        direct = "lambda_runtime::run" in text
        if serves or direct:
            name = re.search(r'^name\s*=\s*"([^"]+)"', manifest.read_text(encoding="utf-8"), re.M)
            crates.add(name.group(1))
    return crates


class EveryFileParses(unittest.TestCase):
    def test_every_tf_file_parses(self):
        files = sorted(TERRAFORM.rglob("*.tf"))
        self.assertGreaterEqual(len(files), 20, "expected the module, the target-account module and four examples")
        for path in files:
            with self.subTest(path=str(path.relative_to(ROOT))):
                parse(path)


class FunctionsMatchCrates(unittest.TestCase):
    def test_every_lambda_crate_has_a_function_and_back(self):
        crates = lambda_crates()
        self.assertEqual(len(crates), 9, f"Lambda crates found: {sorted(crates)}")
        local = module_locals()
        functions = (
            set(literal_strings(local["step_functions"]))
            | set(literal_strings(local["driver_functions"]))
            | set(literal_strings(local["rotation_functions"]))
        )
        self.assertEqual(functions, crates)

        lambdas = resources("resource", "aws_lambda_function")
        self.assertEqual([name for name, _ in lambdas], ["this"], "one for_each aws_lambda_function")
        body = lambdas[0][1]
        self.assertEqual(unwrap(body["for_each"]), "${local.function_settings}")
        self.assertEqual(unwrap(body["runtime"]), "provided.al2023")
        self.assertIn("${local.lambda_zip_dir}/${each.key}.zip", unwrap(body["filename"]))
        # function_settings: one entry per step, plus the two drivers by name.
        settings = unwrap(local["function_settings"])
        self.assertIn("local.step_functions", settings)
        for driver in literal_strings(local["driver_functions"]) + literal_strings(local["rotation_functions"]):
            self.assertIn(f"'{driver}'", settings, f"function_settings has no {driver}")

    def test_package_script_and_action_list_name_the_same_functions(self):
        crates = lambda_crates()
        script = (ROOT / "scripts" / "package.sh").read_text(encoding="utf-8")
        listed = re.search(r"^ALL_FUNCTIONS=\(([^)]*)\)", script, re.M).group(1).split()
        self.assertEqual(set(listed), crates)
        actions = json.loads(IAM_ACTIONS.read_text(encoding="utf-8"))
        self.assertEqual(set(actions["functions"]), crates)


class PlaceholdersMatchTemplatefile(unittest.TestCase):
    def test_asl_placeholders_and_templatefile_variables_are_the_same(self):
        placeholders = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", ASL.read_text(encoding="utf-8")))
        self.assertEqual(len(placeholders), 7, f"placeholders: {sorted(placeholders)}")
        machines = resources("resource", "aws_sfn_state_machine")
        self.assertEqual(len(machines), 1)
        definition = unwrap(machines[0][1]["definition"])
        call = re.search(r'templatefile\(\s*"([^"]+)"\s*,\s*\{(.*)\}\s*\)', definition, re.S)
        self.assertIsNotNone(call, f"definition is not a templatefile() call: {definition}")
        path = call.group(1).replace("${path.module}", str(MODULE))
        self.assertEqual(Path(path).resolve(), ASL.resolve())
        variables = set(re.findall(r"['\"]?([A-Za-z0-9_]+)['\"]?\s*[:=]\s*['\"]?\$\{", call.group(2)))
        self.assertEqual(variables, placeholders)
        machine = machines[0][1]
        self.assertEqual(unwrap(machine["type"]), "STANDARD")
        logging = unwrap(machine["logging_configuration"])
        self.assertIs(unwrap(logging["include_execution_data"]), False)


ADAPTER_SERVICES = {
    "amg.rs": "grafana",
    "kms.rs": "kms",
    "secrets_manager.rs": "secretsmanager",
    "sfn.rs": "states",
    "sqs.rs": "sqs",
}


def adapter_operations():
    """`service:Operation` of every SDK call the keyshift-aws adapters make: a `client` (or
    `client(...)`, `regional(...)`) followed by `.snake_case_operation()`, the SDK method named
    in a `delete_on!`, plus STS AssumeRole through
    aws-config's AssumeRoleProvider."""
    operations = set()
    source = ROOT / "crates" / "aws" / "src"
    for file_name, service in ADAPTER_SERVICES.items():
        text = (source / file_name).read_text(encoding="utf-8")
        text = text.split("#[cfg(test)]")[0]
        calls = re.findall(r"\b(?:client|regional)(?:\([^()]*\))?\s*\.\s*([a-z][a-z_]*)\(\)", text)
        # amg.rs's deletes go through `delete_on!(self, workspace, "Name", sdk_method, ...)`.
        calls += re.findall(r"\bdelete_on!\(\s*self,\s*\w+,\s*\"\w+\",\s*([a-z][a-z_]*)", text)
        for snake in calls:
            if snake in ("clone", "config", "to_builder"):
                continue
            operations.add(f"{service}:" + "".join(part.capitalize() for part in snake.split("_")))
    if "AssumeRoleProvider" in (source / "sts.rs").read_text(encoding="utf-8"):
        operations.add("sts:AssumeRole")
    return operations


class ListMatchesTheAdapters(unittest.TestCase):
    def test_every_adapter_operation_is_listed_and_every_listed_call_exists(self):
        listed = json.loads(IAM_ACTIONS.read_text(encoding="utf-8"))
        operations = adapter_operations()
        self.assertGreaterEqual(len(operations), 23, f"adapter operations found: {sorted(operations)}")
        calls = set()
        for entry in listed["functions"].values():
            calls |= set(entry["calls"])
        unused = set(listed["not_called_by_lambdas"])
        self.assertEqual(sorted(calls & unused), [], "listed both as called and as not called")
        self.assertEqual(sorted(operations - calls - unused), [], "adapter operations missing from deploy/iam-actions.json")
        self.assertEqual(sorted((calls | unused) - operations), [], "listed operations no adapter sends")


class PoliciesGrantExactlyTheList(unittest.TestCase):
    def test_each_function_is_granted_exactly_its_listed_actions(self):
        listed = json.loads(IAM_ACTIONS.read_text(encoding="utf-8"))
        every_function = set(listed["every_function"])
        statements = unwrap(module_locals()["function_statements"])
        self.assertEqual(set(statements), set(listed["functions"]))

        documents = dict(resources("data", "aws_iam_policy_document"))
        document = documents["function"]
        self.assertEqual(unwrap(document["for_each"]), "${local.function_statements}")
        static_actions = set()
        for statement in document.get("statement", []):
            static_actions |= set(literal_strings(statement["actions"]))
        self.assertEqual(static_actions, every_function)

        checked = 0
        for function, entries in sorted(statements.items()):
            with self.subTest(function=function):
                granted = set(every_function)
                for entry in entries:
                    actions = literal_strings(resolve_local(entry["actions"]))
                    for action in actions:
                        self.assertNotIn("*", action, f"{function}: wildcard action {action}")
                    granted |= set(actions)
                wanted = set(listed["functions"][function]["calls"])
                wanted |= set(listed["functions"][function]["implied"])
                wanted |= every_function
                self.assertEqual(sorted(granted - wanted), [], f"{function} is granted more than the list")
                self.assertEqual(sorted(wanted - granted), [], f"{function} lacks listed actions")
                checked += 1
        self.assertEqual(checked, 9)


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)
