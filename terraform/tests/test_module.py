"""Holds the Terraform module to the code: parses every .tf file with python-hcl2 and checks
that the Lambda functions match the Lambda crates, that the ASL's placeholders match the
templatefile() variables, that every function's IAM policy grants exactly the actions
deploy/iam-actions.json lists for it, and that rotation events (event_bus_name) reach only
the publishers the Rust side names, with the rotation-events example subscribing to them.

Run: .venv/bin/python terraform/tests/test_module.py   (scripts/test.sh does)
"""

import ast
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
ROTATION_EVENTS_EXAMPLE = TERRAFORM / "examples" / "rotation-events"

# The contract of crates/core/src/ports/events.rs (EVENT_SOURCE, SECRET_ROTATED,
# ROTATION_FAILED) and crates/lambda-support/src/adapters.rs (EVENT_BUS_ENV): who publishes.
EVENT_SOURCE = "keyshift"
EVENT_BUS_ENV = "KEYSHIFT_EVENT_BUS_NAME"
EVENT_PUBLISHING_FUNCTIONS = {"store-secret", "rotate-secret"}


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


def module_variable(name):
    for path in module_files():
        for block in parse(path).get("variable", []):
            if name in block:
                return block[name]
    raise AssertionError(f"variable {name} is not declared")


def hcl_regexes(condition):
    """The patterns of the regex("...") calls in a condition, HCL escapes undone."""
    patterns = re.findall(r'regex\("((?:[^"\\]|\\.)*)"', condition)
    return [re.sub(r"\\(.)", r"\1", pattern) for pattern in patterns]


def jsonencoded(value):
    """The object of a literal `jsonencode({...})` attribute, as python-hcl2 renders it."""
    text = unwrap(value)
    call = re.fullmatch(r"\$\{jsonencode\((.*)\)\}", text, re.S)
    assert call, f"not a jsonencode() of a literal: {text}"
    return ast.literal_eval(call.group(1))


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
        self.assertGreaterEqual(len(files), 20, "expected the module, the target-account module and five examples")
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
        self.assertEqual(len(placeholders), 8, f"placeholders: {sorted(placeholders)}")
        machines = resources("resource", "aws_sfn_state_machine")
        self.assertEqual(len(machines), 1)
        definition = unwrap(machines[0][1]["definition"])
        call = re.search(r'templatefile\(\s*"([^"]+)"\s*,\s*\{(.*)\}\s*\)', definition, re.S)
        self.assertIsNotNone(call, f"definition is not a templatefile() call: {definition}")
        path = call.group(1).replace("${path.module}", str(MODULE))
        self.assertEqual(Path(path).resolve(), ASL.resolve())
        variables = set(re.findall(r"['\"]?([A-Za-z0-9_]+)['\"]?\s*[:=]\s*['\"]?\$\{", call.group(2)))
        self.assertEqual(variables, placeholders)
        # No bus: the empty string, on which the ASL's FailureEventsEnabled skips publishing.
        self.assertRegex(
            call.group(2),
            r"'event_bus_name': '\$\{var\.event_bus_name == None \? \"\" : var\.event_bus_name\}'",
        )
        machine = machines[0][1]
        self.assertEqual(unwrap(machine["type"]), "STANDARD")
        logging = unwrap(machine["logging_configuration"])
        self.assertIs(unwrap(logging["include_execution_data"]), False)


ADAPTER_SERVICES = {
    "amg.rs": "grafana",
    "events.rs": "events",
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


class RotationEventsReachOnlyThePublishers(unittest.TestCase):
    def test_event_bus_name_is_an_optional_validated_name_or_arn(self):
        variable = module_variable("event_bus_name")
        self.assertEqual(unwrap(variable["type"]), "${string}")
        self.assertIsNone(unwrap(variable["default"]))
        description = unwrap(variable["description"])
        for term in (f'\\"{EVENT_SOURCE}\\"', "Secret Rotated", "Rotation Failed", "never a token"):
            self.assertIn(term, description)
        condition = unwrap(unwrap(variable["validation"])["condition"])
        self.assertTrue(condition.startswith("${var.event_bus_name == None || "), condition)
        patterns = hcl_regexes(condition)
        self.assertEqual(len(patterns), 2, condition)

        def accepted(value):
            return any(re.search(pattern, value) for pattern in patterns)

        for good in (
            "keyshift-events",
            "default",
            "team/keyshift.events_1",
            "x" * 256,
            "arn:aws:events:eu-west-1:123456789012:event-bus/keyshift-events",
            "arn:aws-us-gov:events:us-gov-west-1:123456789012:event-bus/keyshift",
        ):
            self.assertTrue(accepted(good), good)
        for bad in (
            "",
            "x" * 257,
            "keyshift events",
            "keyshift*",
            "arn:aws:sns:eu-west-1:123456789012:keyshift",
            "arn:aws:events:eu-west-1:1234:event-bus/keyshift",
            "arn:aws:events:eu-west-1:123456789012:rule/keyshift",
        ):
            self.assertFalse(accepted(bad), bad)

    def test_only_the_publishing_functions_get_the_bus_in_their_environment(self):
        local = module_locals()
        self.assertEqual(set(literal_strings(local["event_functions"])), EVENT_PUBLISHING_FUNCTIONS)
        self.assertEqual(
            unwrap(local["event_environment"]),
            "${var.event_bus_name == None ? {} : {'" + EVENT_BUS_ENV + "': '${var.event_bus_name}'}}",
        )
        # The variable is named nowhere else: not in another local, not in a resource.
        for path in module_files():
            with self.subTest(path=path.name):
                text = json.dumps(parse(path))
                expected = 1 if path.name == "main.tf" else 0
                self.assertEqual(text.count(EVENT_BUS_ENV), expected)

        settings = unwrap(local["function_settings"])
        getting = set()
        steps = re.search(r"\{for function in local\.step_functions : function => \{'environment': '(.*?)', 'timeout'", settings)
        self.assertIsNotNone(steps, settings)
        if "local.event_environment" in steps.group(1):
            self.assertIn("contains(local.event_functions,function) ? local.event_environment : {}", steps.group(1))
            step_functions = set(literal_strings(local["step_functions"]))
            getting |= step_functions & set(literal_strings(local["event_functions"]))
        named = re.findall(r"'([a-z-]+)': \{'environment': (.*?), 'timeout'", settings)
        self.assertEqual({name for name, _ in named}, {"fleet-start", "rotate-secret", "dlq-replay"})
        getting |= {name for name, environment in named if "local.event_environment" in environment}
        self.assertEqual(settings.count("local.event_environment"), 2)
        self.assertEqual(getting, EVENT_PUBLISHING_FUNCTIONS)

        lambdas = dict(resources("resource", "aws_lambda_function"))
        environment = unwrap(lambdas["this"]["environment"])
        self.assertEqual(unwrap(environment["variables"]), "${each.value.environment}")

    def assert_put_events_on_the_bus(self, statement, owner):
        self.assertEqual(literal_strings(statement["actions"]), ["events:PutEvents"], owner)
        self.assertEqual(unwrap(statement["conditions"]), "${local.event_source_conditions}", owner)

    def test_put_events_is_granted_on_the_bus_only_to_the_publishers(self):
        local = module_locals()
        self.assertEqual(
            unwrap(local["event_bus_arns"]),
            "${local.event_bus_arn == None ? [] : ['${local.event_bus_arn}']}",
        )
        bus_arn = unwrap(local["event_bus_arn"])
        self.assertIn(
            '"arn:${local.partition}:events:${local.region}:${local.account_id}:event-bus/${var.event_bus_name}"',
            bus_arn,
        )
        self.assertTrue(bus_arn.startswith("${var.event_bus_name == None ? None : "), bus_arn)
        self.assertNotIn("*", bus_arn)
        conditions = literal_strings(local["event_source_conditions"])
        self.assertEqual(
            conditions,
            [{"test": "StringEquals", "variable": "events:source", "values": [EVENT_SOURCE]}],
        )

        # The functions: a statement on local.event_bus_arns, left out while that is empty.
        statements = unwrap(local["function_statements"])
        publishers = set()
        for function, entries in sorted(statements.items()):
            for entry in entries:
                if "events:PutEvents" in literal_strings(resolve_local(entry["actions"])):
                    self.assert_put_events_on_the_bus(entry, function)
                    self.assertEqual(unwrap(entry["resources"]), "${local.event_bus_arns}", function)
                    publishers.add(function)
        self.assertEqual(publishers, EVENT_PUBLISHING_FUNCTIONS)
        documents = dict(resources("data", "aws_iam_policy_document"))
        function_statement = unwrap(documents["function"]["dynamic"])["statement"]
        self.assertIn("if length(s.resources) > 0", unwrap(function_statement["for_each"]))

        # The state machine (its "Rotation Failed" event): one statement per bus ARN, with the
        # conditions the service policy document applies.
        machine = unwrap(local["state_machine_statements"])
        self.assertEqual(machine.count("events:PutEvents"), 1, machine)
        self.assertIn(
            "[for arn in local.event_bus_arns : {'sid': 'PublishRotationEvents', 'actions': ['events:PutEvents'], "
            "'resources': ['${arn}'], 'conditions': '${local.event_source_conditions}'}]",
            machine,
        )
        service_statement = unwrap(unwrap(documents["service"]["dynamic"])["statement"]["content"])
        service_condition = unwrap(service_statement["dynamic"])["condition"]
        self.assertEqual(unwrap(service_condition["for_each"]), "${try(statement.value.conditions,[])}")
        scheduler = json.dumps(local["scheduler_statements"])
        self.assertNotIn("events:", scheduler)

        outputs = {}
        for block in parse(MODULE / "outputs.tf").get("output", []):
            outputs.update(block)
        self.assertEqual(unwrap(outputs["event_bus_arn"]["value"]), "${local.event_bus_arn}")
        self.assertTrue(unwrap(outputs["event_bus_arn"]["description"]))


def example_blocks(kind, type_name):
    found = {}
    for path in sorted(ROTATION_EVENTS_EXAMPLE.glob("*.tf")):
        for block in parse(path).get(kind, []):
            found.update(block.get(type_name, {}))
    return found


class RotationEventsExampleSubscribes(unittest.TestCase):
    def test_the_example_has_the_layout_of_the_others(self):
        files = {path.name for path in ROTATION_EVENTS_EXAMPLE.iterdir()}
        self.assertEqual(files, {path.name for path in (TERRAFORM / "examples" / "amg-fleet").iterdir()})
        script = (ROOT / "scripts" / "test.sh").read_text(encoding="utf-8")
        loop = re.search(r"^\s*for example in ([^;]+); do", script, re.M).group(1).split()
        self.assertIn("rotation-events", loop)

    def test_the_module_publishes_on_the_examples_bus(self):
        buses = example_blocks("resource", "aws_cloudwatch_event_bus")
        self.assertEqual(list(buses), ["keyshift"])
        modules = {}
        for path in sorted(ROTATION_EVENTS_EXAMPLE.glob("*.tf")):
            for block in parse(path).get("module", []):
                modules.update(block)
        self.assertEqual(unwrap(modules["keyshift"]["source"]), "../../modules/keyshift")
        self.assertEqual(unwrap(modules["keyshift"]["event_bus_name"]), "${aws_cloudwatch_event_bus.keyshift.name}")

    def rule_on_the_bus(self, detail_type):
        rules = example_blocks("resource", "aws_cloudwatch_event_rule")
        matching = [name for name, rule in rules.items() if jsonencoded(rule["event_pattern"]) == {"source": [EVENT_SOURCE], "detail-type": [detail_type]}]
        self.assertEqual(len(matching), 1, f"rules matching {detail_type}: {matching}")
        name = matching[0]
        self.assertEqual(unwrap(rules[name]["event_bus_name"]), "${aws_cloudwatch_event_bus.keyshift.name}")
        targets = [target for target in example_blocks("resource", "aws_cloudwatch_event_target").values() if unwrap(target["rule"]) == f"${{aws_cloudwatch_event_rule.{name}.name}}"]
        self.assertEqual(len(targets), 1, f"targets of {name}")
        self.assertEqual(unwrap(targets[0]["event_bus_name"]), "${aws_cloudwatch_event_bus.keyshift.name}")
        return name, unwrap(targets[0]["arn"])

    def test_secret_rotated_invokes_the_consumer_lambda_from_its_rule_only(self):
        rule, target = self.rule_on_the_bus("Secret Rotated")
        function = re.fullmatch(r"\$\{aws_lambda_function\.([a-z_]+)\.arn\}", target)
        self.assertIsNotNone(function, target)
        self.assertIn(function.group(1), example_blocks("resource", "aws_lambda_function"))
        permissions = [
            permission
            for permission in example_blocks("resource", "aws_lambda_permission").values()
            if unwrap(permission["function_name"]) == f"${{aws_lambda_function.{function.group(1)}.function_name}}"
        ]
        self.assertEqual(len(permissions), 1)
        self.assertEqual(unwrap(permissions[0]["principal"]), "events.amazonaws.com")
        self.assertEqual(unwrap(permissions[0]["action"]), "lambda:InvokeFunction")
        self.assertEqual(unwrap(permissions[0]["source_arn"]), f"${{aws_cloudwatch_event_rule.{rule}.arn}}")

    def test_rotation_failed_notifies_an_encrypted_topic_its_rule_may_publish_to(self):
        rule, target = self.rule_on_the_bus("Rotation Failed")
        topic = re.fullmatch(r"\$\{aws_sns_topic\.([a-z_]+)\.arn\}", target)
        self.assertIsNotNone(topic, target)
        topics = example_blocks("resource", "aws_sns_topic")
        self.assertRegex(unwrap(topics[topic.group(1)]["kms_master_key_id"]), r"^\$\{aws_kms_key\.[a-z_]+\.arn\}$")
        policies = [
            policy
            for policy in example_blocks("resource", "aws_sns_topic_policy").values()
            if unwrap(policy["arn"]) == target
        ]
        self.assertEqual(len(policies), 1)
        document = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.([a-z_]+)\.json\}", unwrap(policies[0]["policy"]))
        self.assertIsNotNone(document)
        statements = example_blocks("data", "aws_iam_policy_document")[document.group(1)]["statement"]
        publishes = [statement for statement in statements if literal_strings(statement["actions"]) == ["sns:Publish"]]
        self.assertEqual(len(publishes), 1)
        statement = publishes[0]
        self.assertEqual(literal_strings(statement["resources"]), [target])
        principals = unwrap(statement["principals"])
        self.assertEqual((unwrap(principals["type"]), literal_strings(principals["identifiers"])), ("Service", ["events.amazonaws.com"]))
        condition = unwrap(statement["condition"])
        self.assertEqual(unwrap(condition["variable"]), "aws:SourceArn")
        self.assertIn(unwrap(condition["test"]), ("ArnEquals", "StringEquals"))
        self.assertEqual(literal_strings(condition["values"]), [f"${{aws_cloudwatch_event_rule.{rule}.arn}}"])


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)
