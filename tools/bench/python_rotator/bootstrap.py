"""The shape of the Python rotators users run today, as a Lambda custom runtime.

keyshift-bench (`keyshift-bench lambdas`) starts this next to the Rust step functions, against
the same local Lambda Runtime API emulator, to compare cold starts: what a Python rotator
does before it can take its first event (import boto3, create a Secrets Manager and a KMS
client, as such rotators do at module level) and how quickly it answers that event.

The loop is the Runtime API protocol written with urllib only, so nothing but boto3 is
imported beyond the standard library. The bench's event is not an object, which a rotator
refuses without calling AWS; this one reports it as `Input.Invalid`, as the Rust functions do.
"""

import json
import os
import urllib.request

import boto3

SECRETS = boto3.client("secretsmanager")
KMS = boto3.client("kms")

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"


def handle(event):
    """A rotator's entry point: it needs the Secrets Manager rotation event's fields."""
    if not isinstance(event, dict) or "SecretId" not in event or "Step" not in event:
        raise ValueError("the event is not a Secrets Manager rotation event")
    SECRETS.describe_secret(SecretId=event["SecretId"])
    return {"step": event["Step"]}


def post(path, body, headers=None):
    request = urllib.request.Request(
        API + path, data=json.dumps(body).encode(), method="POST", headers=headers or {}
    )
    urllib.request.urlopen(request).read()


def main():
    while True:
        with urllib.request.urlopen(API + "next") as answer:
            request_id = answer.headers["Lambda-Runtime-Aws-Request-Id"]
            raw = answer.read()
        try:
            result = handle(json.loads(raw))
        except Exception as error:  # the Lambda runtime reports any failure the same way
            post(
                request_id + "/error",
                {"errorType": "Input.Invalid", "errorMessage": str(error)},
                {"Lambda-Runtime-Function-Error-Type": "Input.Invalid"},
            )
            continue
        post(request_id + "/response", result)


if __name__ == "__main__":
    main()
