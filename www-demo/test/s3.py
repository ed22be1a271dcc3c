"""A few S3 operations with boto3, for the archive demo's test in S3 mode (a local moto server).

    s3.py create-bucket BUCKET
    s3.py list BUCKET PREFIX       prints the keys under PREFIX as a JSON array (sorted)
    s3.py get BUCKET KEY OUT       writes the object's bytes to the file OUT
    s3.py put BUCKET KEY IN        stores the bytes of the file IN as the object

The endpoint, credentials and region come from the environment (AWS_ENDPOINT_URL,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION), the same variables the server's
object_store reads. Run by www-demo/test/demo.test.mjs.
"""

import json
import os
import sys
from pathlib import Path

import boto3


def main() -> None:
    command, bucket, *args = sys.argv[1:]
    s3 = boto3.client(
        "s3",
        endpoint_url=os.environ["AWS_ENDPOINT_URL"],
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
    )
    if command == "create-bucket" and not args:
        s3.create_bucket(Bucket=bucket)
    elif command == "list" and len(args) == 1:
        keys = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=args[0]):
            keys.extend(o["Key"] for o in page.get("Contents", []))
        json.dump(sorted(keys), sys.stdout)
    elif command == "get" and len(args) == 2:
        body = s3.get_object(Bucket=bucket, Key=args[0])["Body"].read()
        Path(args[1]).write_bytes(body)
    elif command == "put" and len(args) == 2:
        s3.put_object(Bucket=bucket, Key=args[0], Body=Path(args[1]).read_bytes())
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
