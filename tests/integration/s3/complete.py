#!/usr/bin/python3
"""complete.py -- CompleteMultipartUpload answers at once and keeps the
connection alive while it assembles the object, run by it_s3 against a
`coffer server` whose --s3-complete-keepalive-ms is short (10 ms).

A hand-signed Complete read raw: 200 and application/xml, the XML
declaration, at least one space (sent while the parts were being copied),
then the CompleteMultipartUploadResult with the "-N" ETag; the object reads
back whole. boto3 completes an upload through the same reply. A part whose
stored object is gone from every filer (removed from the filers' directories
behind their back) fails assembly after the 200: the body is an <Error>
document, boto3 raises (botocore treats such a 200 as a 500), no object is recorded and the upload keeps its
parts. A client that leaves after the first bytes leaves the object whole or
absent, never half-recorded.

usage: complete.py ENDPOINT ACCESS_KEY SECRET_KEY DATA_DIR
(DATA_DIR: the server's --data, whose filers' object files the last step
removes.)
"""
import datetime
import hashlib
import hmac
import http.client
import os
import sys
import urllib.parse

import boto3
import botocore
from botocore.config import Config

endpoint, ak, sk, data_dir = sys.argv[1:5]
host = endpoint.split("//", 1)[1]
REGION = "us-east-1"
MiB = 1024 * 1024
XML_HEAD = b'<?xml version="1.0" encoding="UTF-8"?>\n'
cfg = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
             signature_version="s3v4")
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ak,
                  aws_secret_access_key=sk, region_name=REGION, config=cfg)
step_no = 0


def step(what):
    global step_no
    step_no += 1
    print(f"== {step_no} {what}", flush=True)


def expect(got, want):
    assert got == want, f"got {got!r}, want {want!r}"


def quote(s, safe="/"):
    return urllib.parse.quote(s, safe=safe + "~")


def sign_headers(path, query, body):
    """The headers of a header-signed POST."""
    amz = datetime.datetime.utcnow().strftime("%Y%m%dT%H%M%SZ")
    date = amz[:8]
    headers = {"host": host, "x-amz-date": amz,
               "x-amz-content-sha256": hashlib.sha256(body).hexdigest()}
    names = sorted(headers)
    canon_q = "&".join(f"{quote(k, '')}={quote(v, '')}" for k, v in sorted(query.items()))
    canon = "\n".join(["POST", quote(path), canon_q,
                       "".join(f"{n}:{headers[n]}\n" for n in names),
                       ";".join(names), headers["x-amz-content-sha256"]])
    scope = f"{date}/{REGION}/s3/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(canon.encode()).hexdigest()])
    k = ("AWS4" + sk).encode()
    for part in (date, REGION, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={ak}/{scope}, "
                                f"SignedHeaders={';'.join(names)}, Signature={sig}")
    return headers


def signed_post(path, query, body):
    """A header-signed POST read raw: (status, headers, body)."""
    headers = sign_headers(path, query, body)
    conn = http.client.HTTPConnection(host, timeout=60)
    conn.putrequest("POST", quote(path) + "?" + urllib.parse.urlencode(query),
                    skip_host=True, skip_accept_encoding=True)
    for name, v in headers.items():
        conn.putheader(name, v)
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, {name.lower(): v for name, v in r.getheaders()}, data


def upload(key, parts):
    """A multipart upload of parts: (upload id, the Complete body, the "-N" ETag)."""
    uid = s3.create_multipart_upload(Bucket="kc", Key=key)["UploadId"]
    xml = "<CompleteMultipartUpload>"
    for i, body in enumerate(parts):
        r = s3.upload_part(Bucket="kc", Key=key, UploadId=uid, PartNumber=i + 1, Body=body)
        xml += f"<Part><PartNumber>{i + 1}</PartNumber><ETag>{r['ETag']}</ETag></Part>"
    xml += "</CompleteMultipartUpload>"
    tag = '"%s-%d"' % (hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts))
                       .hexdigest(), len(parts))
    return uid, xml.encode(), tag


def raw_complete(key, uid, xml):
    """Complete read raw: the body after the declaration and the spaces,
    and how many spaces came before it."""
    st, hdrs, body = signed_post("/kc/" + key, {"uploadId": uid}, xml)
    expect((st, hdrs.get("content-type")), (200, "application/xml"))
    assert body.startswith(XML_HEAD), body[:200]
    rest = body[len(XML_HEAD):]
    root = rest.lstrip(b" \n")
    return root, len(rest) - len(root)


s3.create_bucket(Bucket="kc")

step("Complete answers 200 at once, spaces while it assembles, then the result")
parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(3 * MiB + 11)]
uid, xml, tag = upload("a/whole.bin", parts)
root, spaces = raw_complete("a/whole.bin", uid, xml)
assert spaces >= 1, f"no space before the result: {root[:200]!r}"
assert root.startswith(b"<CompleteMultipartUploadResult"), root[:200]
assert f"<ETag>{tag.replace(chr(34), '&quot;')}</ETag>".encode() in root, root
assert b"<Key>a/whole.bin</Key>" in root and b"<Bucket>kc</Bucket>" in root, root
got = s3.get_object(Bucket="kc", Key="a/whole.bin")
expect(got["ETag"], tag)
assert got["Body"].read() == b"".join(parts)
print(f"   {spaces} spaces before the result", flush=True)

step("boto3 completes through the kept-alive reply")
parts = [os.urandom(5 * MiB), os.urandom(5 * MiB + 3)]
uid, xml, tag = upload("b/boto.bin", parts)
done = s3.complete_multipart_upload(
    Bucket="kc", Key="b/boto.bin", UploadId=uid,
    MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": '"%s"' % hashlib.md5(p).hexdigest()}
                               for i, p in enumerate(parts)]})
expect((done["ETag"], done["Key"], done["Bucket"]), (tag, "b/boto.bin", "kc"))
assert s3.get_object(Bucket="kc", Key="b/boto.bin")["Body"].read() == b"".join(parts)

step("the client goes away mid-way: the object is whole or absent, the upload consistent")
parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(7)]
uid, xml, tag = upload("d/gone.bin", parts)
hdrs = sign_headers("/kc/d/gone.bin", {"uploadId": uid}, xml)
conn = http.client.HTTPConnection(host, timeout=60)
conn.putrequest("POST", "/kc/d/gone.bin?uploadId=" + uid, skip_host=True,
                skip_accept_encoding=True)
for name, v in hdrs.items():
    conn.putheader(name, v)
conn.putheader("Content-Length", str(len(xml)))
conn.endheaders(xml)
r = conn.getresponse()
expect(r.status, 200)
expect(r.read(len(XML_HEAD)), XML_HEAD)
conn.sock.shutdown(2)
conn.close()
# The worker stops before its next part (nothing recorded, the parts stay)
# or has recorded the object (the upload gone); completing again tells which.
try:
    s3.complete_multipart_upload(
        Bucket="kc", Key="d/gone.bin", UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": i + 1,
                                    "ETag": '"%s"' % hashlib.md5(p).hexdigest()}
                                   for i, p in enumerate(parts)]})
    print("   abandoned, completed again", flush=True)
except botocore.exceptions.ClientError as e:
    expect(e.response["Error"]["Code"], "NoSuchUpload")
    print("   completed before the client left", flush=True)
got = s3.get_object(Bucket="kc", Key="d/gone.bin")
expect(got["ETag"], tag)
assert got["Body"].read() == b"".join(parts)

step("a part lost on every filer: 200 with <Error>, nothing recorded, the parts stay")
# The second part's size is unlike any other object's, so its files on the
# filers are the files of that size (too big for a volume record).
LOST = 5 * MiB + 4321
parts = [os.urandom(5 * MiB), os.urandom(LOST), os.urandom(1000)]
uid, xml, tag = upload("c/lost.bin", parts)
removed = []
for d, _, files in os.walk(data_dir):
    if os.sep + "objects" + os.sep not in d + os.sep:
        continue
    for f in files:
        p = os.path.join(d, f)
        if os.path.getsize(p) == LOST:
            os.remove(p)
            removed.append(p)
assert len(removed) >= 2, f"the lost part's replicas were not found: {removed}"
root, spaces = raw_complete("c/lost.bin", uid, xml)
assert root.startswith(b"<Error><Code>"), root[:300]
assert b"<CompleteMultipartUploadResult" not in root, root
print("   " + root.decode(), flush=True)
try:
    s3.complete_multipart_upload(
        Bucket="kc", Key="c/lost.bin", UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": i + 1,
                                    "ETag": '"%s"' % hashlib.md5(p).hexdigest()}
                                   for i, p in enumerate(parts)]})
    raise AssertionError("boto3 completed an upload whose part is lost")
except botocore.exceptions.ClientError as e:
    # botocore takes a 200 Complete whose body is an <Error> for a 500 (and
    # retries it as one); this version names no code then ("Unknown").
    print(f"   boto3: {e}", flush=True)
try:
    s3.head_object(Bucket="kc", Key="c/lost.bin")
    raise AssertionError("the failed object was recorded")
except botocore.exceptions.ClientError as e:
    expect(e.response["ResponseMetadata"]["HTTPStatusCode"], 404)
lp = s3.list_parts(Bucket="kc", Key="c/lost.bin", UploadId=uid)
expect([(p["PartNumber"], p["Size"]) for p in lp["Parts"]], [(1, 5 * MiB), (2, LOST), (3, 1000)])
s3.abort_multipart_upload(Bucket="kc", Key="c/lost.bin", UploadId=uid)

step("cleanup")
s3.delete_objects(Bucket="kc", Delete={"Objects": [{"Key": "a/whole.bin"},
                                                   {"Key": "b/boto.bin"},
                                                   {"Key": "d/gone.bin"}]})
s3.delete_bucket(Bucket="kc")
print("complete passed")
