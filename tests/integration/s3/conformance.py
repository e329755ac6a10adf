#!/usr/bin/python3
"""conformance.py -- coffer's S3 API against boto3 (Debian's python3-boto3)
and hand-signed requests, run by it_s3.

boto3: a put with metadata and Content-Type, head, a range get, conditional
gets (304, 412), ListObjectsV2 with a delimiter and in pages, ListObjects
v1 with markers, url encoding, multi-object delete, CopyObject, presigned
GET, multipart uploads (parts replaced, listed in pages, the uploads
listed, completed with the "-N" ETag checked against MD5s computed here,
aborted, and InvalidPart, InvalidPartOrder, EntityTooSmall, NoSuchUpload),
UploadPartCopy (whole, ranges, copy-source conditions, its errors),
GetObject/HeadObject ?partNumber, GetObjectTagging (always empty). Every error code, each from a request made to cause it. A small
SigV4 signer of its own (hmac, hashlib) makes what boto3 will not: skewed
clocks, a payload hash that lies, aws-chunked bodies with good and bad chunk
signatures, virtual-hosted requests.

The gateway's JSON API for keys (/api/v1/keys, what the web page calls):
make one, list it, use it, revoke it.

usage: conformance.py ENDPOINT ACCESS_KEY SECRET_KEY OTHER_KEY OTHER_SECRET DOMAIN
                      GATEWAY ADMIN_PASSWORD
(OTHER_*: a key of a user with no permission on anything; the admin is user
admin of client demo.)
"""
import datetime
import json
import hashlib
import hmac
import http.client
import os
import sys
import urllib.parse
import urllib.request

import boto3
import botocore
from botocore.config import Config

endpoint, ak, sk, ak2, sk2, domain, gateway, admin_pw = sys.argv[1:9]
host = endpoint.split("//", 1)[1]
REGION = "us-east-1"
cfg = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
             signature_version="s3v4")
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ak,
                  aws_secret_access_key=sk, region_name=REGION, config=cfg)
other = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ak2,
                     aws_secret_access_key=sk2, region_name=REGION, config=cfg)
step_no = 0


def step(what):
    global step_no
    step_no += 1
    print(f"== {step_no} {what}", flush=True)


def code_of(fn, *a, **kw):
    try:
        fn(*a, **kw)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError(f"{fn.__name__} succeeded")


def expect(got, want):
    assert got == want, f"got {got!r}, want {want!r}"


# ---- a signer of our own ---------------------------------------------------

def quote(s, safe="/"):
    return urllib.parse.quote(s, safe=safe + "~")


def sign_key(secret, date):
    k = ("AWS4" + secret).encode()
    for part in (date, REGION, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def signed(method, path, query=None, body=b"", **kw):
    """A header-signed request: returns (status, headers, body)."""
    hdrs = sign(method, path, query, body, **kw)[0]
    return send(method, path, query or {}, body, hdrs)


def sign(method, path, query=None, body=b"", headers=None, when=None, secret=None,
         key_id=None, payload_hash=None, hosthdr=None):
    """The headers of a signed request, and (signing key, signature, date, scope)."""
    when = when or datetime.datetime.utcnow()
    amz = when.strftime("%Y%m%dT%H%M%SZ")
    date = amz[:8]
    query = query or {}
    headers = dict(headers or {})
    headers["host"] = hosthdr or host
    headers["x-amz-date"] = amz
    headers["x-amz-content-sha256"] = payload_hash or hashlib.sha256(body).hexdigest()
    names = sorted(h.lower() for h in headers)
    lower = {k.lower(): v for k, v in headers.items()}
    canon_q = "&".join(f"{quote(k, '')}={quote(v, '')}" for k, v in sorted(query.items()))
    canon = "\n".join([method, quote(path), canon_q,
                       "".join(f"{n}:{lower[n].strip()}\n" for n in names),
                       ";".join(names), headers["x-amz-content-sha256"]])
    scope = f"{date}/{REGION}/s3/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(canon.encode()).hexdigest()])
    key = sign_key(secret or sk, date)
    sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={key_id or ak}/{scope}, "
                                f"SignedHeaders={';'.join(names)}, Signature={sig}")
    return headers, (key, sig, amz, scope)


def send(method, path, query, body, headers):
    conn = http.client.HTTPConnection(host, timeout=30)
    url = quote(path) + ("?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
                         if query else "")
    conn.putrequest(method, url, skip_host=True, skip_accept_encoding=True)
    for k, v in headers.items():
        conn.putheader(k, v)
    if body and not any(k.lower() == "content-length" for k in headers):
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body if body else None)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, dict(r.getheaders()), data


def err_code(body):
    b = body.decode()
    return b.split("<Code>", 1)[1].split("</Code>", 1)[0] if "<Code>" in b else b


def chunked_put(path, chunks, tamper=False):
    """PUT with STREAMING-AWS4-HMAC-SHA256-PAYLOAD, chunk signatures chained."""
    total = sum(len(c) for c in chunks)
    size = total + sum(len(f"{len(c):x};chunk-signature=") + 64 + 4 for c in chunks + [b""])
    hdrs = {"content-encoding": "aws-chunked", "x-amz-decoded-content-length": str(total),
            "content-length": str(size)}
    hdrs, (key, seed, amz, scope) = sign("PUT", path, headers=hdrs,
                                         payload_hash="STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    body, prev = b"", seed
    empty = hashlib.sha256(b"").hexdigest()
    for i, c in enumerate(chunks + [b""]):
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz, scope, prev, empty,
                         hashlib.sha256(c).hexdigest()])
        sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        if tamper and i == 1:
            c = c[:-1] + bytes([c[-1] ^ 1])
        body += f"{len(c):x};chunk-signature={sig}\r\n".encode() + c + b"\r\n"
        prev = sig
    assert len(body) == size
    return send("PUT", path, {}, body, hdrs)


# ---- buckets ---------------------------------------------------------------

step("buckets")
s3.create_bucket(Bucket="conf")
expect(code_of(s3.create_bucket, Bucket="conf"), ("BucketAlreadyOwnedByYou", 409))
assert "conf" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
s3.head_bucket(Bucket="conf")
expect(code_of(s3.head_bucket, Bucket="nosuch"), ("404", 404))
expect(code_of(s3.list_objects_v2, Bucket="nosuch"), ("NoSuchBucket", 404))
loc = s3.get_bucket_location(Bucket="conf")
expect(loc.get("LocationConstraint"), None)

# ---- objects -----------------------------------------------------------------

step("put with metadata, head, get, range")
data = bytes(range(256)) * 1000
r = s3.put_object(Bucket="conf", Key="d1/d2/obj.bin", Body=data, ContentType="image/x-test",
                  Metadata={"Color": "blue", "n": "1"})
etag = r["ETag"]
expect(etag, '"' + hashlib.md5(data).hexdigest() + '"')
h = s3.head_object(Bucket="conf", Key="d1/d2/obj.bin")
expect((h["ContentLength"], h["ContentType"], h["ETag"]), (len(data), "image/x-test", etag))
expect(h["Metadata"], {"color": "blue", "n": "1"})
expect(s3.get_object(Bucket="conf", Key="d1/d2/obj.bin")["Body"].read(), data)
g = s3.get_object(Bucket="conf", Key="d1/d2/obj.bin", Range="bytes=1000-1999")
expect((g["Body"].read(), g["ContentRange"]), (data[1000:2000], f"bytes 1000-1999/{len(data)}"))
g = s3.get_object(Bucket="conf", Key="d1/d2/obj.bin", Range="bytes=-10")
expect(g["Body"].read(), data[-10:])
expect(code_of(s3.get_object, Bucket="conf", Key="d1/d2/obj.bin", Range=f"bytes={len(data)}-"),
       ("InvalidRange", 416))
expect(code_of(s3.get_object, Bucket="conf", Key="d1/nope"), ("NoSuchKey", 404))
expect(code_of(s3.get_object, Bucket="nosuch", Key="x"), ("NoSuchBucket", 404))
expect(code_of(s3.head_object, Bucket="conf", Key="d1/d2"), ("404", 404))

step("conditional gets")
lm = h["LastModified"]
expect(code_of(s3.get_object, Bucket="conf", Key="d1/d2/obj.bin", IfNoneMatch=etag),
       ("304", 304))
expect(code_of(s3.get_object, Bucket="conf", Key="d1/d2/obj.bin", IfMatch='"0000"'),
       ("PreconditionFailed", 412))
s3.get_object(Bucket="conf", Key="d1/d2/obj.bin", IfMatch=etag)
expect(code_of(s3.get_object, Bucket="conf", Key="d1/d2/obj.bin", IfModifiedSince=lm),
       ("304", 304))
s3.get_object(Bucket="conf", Key="d1/d2/obj.bin",
              IfModifiedSince=lm - datetime.timedelta(seconds=10))
expect(code_of(s3.get_object, Bucket="conf", Key="d1/d2/obj.bin",
               IfUnmodifiedSince=lm - datetime.timedelta(seconds=10)),
       ("PreconditionFailed", 412))

step("listings: v2 delimiter and pages, v1 markers, url encoding")
keys = ["a.txt", "a b/x", "a-/y", "a/1", "a/2/deep", "b", "c+d/e f.txt"]
for k in keys:
    s3.put_object(Bucket="conf", Key="L/" + k, Body=k.encode())
everything = sorted("L/" + k for k in keys)
pages = s3.get_paginator("list_objects_v2").paginate(Bucket="conf", Prefix="L/",
                                                     PaginationConfig={"PageSize": 2})
got = [o["Key"] for p in pages for o in p.get("Contents", [])]
expect(got, everything)
r = s3.list_objects_v2(Bucket="conf", Prefix="L/", Delimiter="/")
expect([o["Key"] for o in r["Contents"]], ["L/a.txt", "L/b"])
expect([p["Prefix"] for p in r["CommonPrefixes"]], ["L/a b/", "L/a-/", "L/a/", "L/c+d/"])
seen = []
for p in s3.get_paginator("list_objects_v2").paginate(
        Bucket="conf", Prefix="L/", Delimiter="/", PaginationConfig={"PageSize": 1}):
    seen += [o["Key"] for o in p.get("Contents", [])]
    seen += [c["Prefix"] for c in p.get("CommonPrefixes", [])]
expect(sorted(seen), sorted(["L/a.txt", "L/b", "L/a b/", "L/a-/", "L/a/", "L/c+d/"]))
r = s3.list_objects_v2(Bucket="conf", Prefix="L/a", StartAfter="L/a-/y")
expect([o["Key"] for o in r["Contents"]], ["L/a.txt", "L/a/1", "L/a/2/deep"])
r = s3.list_objects_v2(Bucket="conf", Prefix="L/a/", Delimiter="/")
expect(([o["Key"] for o in r["Contents"]], [c["Prefix"] for c in r["CommonPrefixes"]]),
       (["L/a/1"], ["L/a/2/"]))
got = []
for p in s3.get_paginator("list_objects").paginate(Bucket="conf", Prefix="L/",
                                                   PaginationConfig={"PageSize": 3}):
    got += [o["Key"] for o in p.get("Contents", [])]
expect(got, everything)
r = s3.list_objects(Bucket="conf", Prefix="L/", Marker="L/a/1")
expect([o["Key"] for o in r["Contents"]], ["L/a/2/deep", "L/b", "L/c+d/e f.txt"])
# boto3 asks for encoding-type=url itself and decodes the keys back (above);
# asked by the caller, the keys stay encoded, as S3 sends them.
r = s3.list_objects_v2(Bucket="conf", Prefix="L/c+d/", EncodingType="url")
expect([o["Key"] for o in r["Contents"]], ["L/c%2Bd/e%20f.txt"])
st, _, body = signed("GET", "/conf", {"list-type": "2", "prefix": "L/c", "encoding-type": "url"})
assert st == 200 and b"<Key>L/c%2Bd/e%20f.txt</Key>" in body, body
r = s3.list_objects_v2(Bucket="conf", Prefix="L/", MaxKeys=0)
expect((r["KeyCount"], r["IsTruncated"]), (0, False))

step("listings against a model: every prefix, delimiter and page size")
model_keys = ["m/" + k for k in [
    "a b/c", "a-", "a-b/x", "a.txt", "a/1", "a/2/deep", "a/2/deeper/z", "a/3", "a/3x",
    "a0", "b", "bb/b/b/b", "c d/e+f", "c d/e+g/h", "z"]]
for k in model_keys:
    s3.put_object(Bucket="conf", Key=k, Body=b"m")


def model(prefix, delim):
    out, seen = [], set()
    for k in sorted(model_keys):
        if not k.startswith(prefix):
            continue
        i = k.find(delim, len(prefix)) if delim else -1
        if i >= 0:
            cp = k[:i + len(delim)]
            if cp not in seen:
                seen.add(cp)
                out.append(("P", cp))
        else:
            out.append(("K", k))
    return out


# A key cannot name a file and a folder at once (the tree has no such thing).
expect(code_of(s3.put_object, Bucket="conf", Key="m/a/1/under", Body=b"x"), ("InvalidRequest", 409))
expect(code_of(s3.put_object, Bucket="conf", Key="m/a", Body=b"x"), ("InvalidRequest", 409))
for prefix in ["m/", "m/a", "m/a/", "m/a/2", "m/a b", "m/c", "m/zz", "m/a/3", "m/b"]:
    for delim in [None, "/"]:
        want = model(prefix, delim)
        for size in [1, 2, 5, 1000]:
            for v in (1, 2):
                kw = {"Bucket": "conf", "Prefix": prefix}
                if delim:
                    kw["Delimiter"] = delim
                name = "list_objects_v2" if v == 2 else "list_objects"
                got = []
                for p in s3.get_paginator(name).paginate(**kw, PaginationConfig={"PageSize": size}):
                    got += [("K", o["Key"]) for o in p.get("Contents", [])]
                    got += [("P", c["Prefix"]) for c in p.get("CommonPrefixes", [])]
                assert sorted(got, key=lambda t: t[1]) == want, (prefix, delim, size, v, got, want)

step("copy (the stored object shared), multi-object delete")
r = s3.copy_object(Bucket="conf", Key="copy/of.bin",
                   CopySource={"Bucket": "conf", "Key": "d1/d2/obj.bin"})
expect(r["CopyObjectResult"]["ETag"], etag)
h2 = s3.head_object(Bucket="conf", Key="copy/of.bin")
expect((h2["ETag"], h2["Metadata"], h2["ContentType"]), (etag, h["Metadata"], "image/x-test"))
expect(s3.get_object(Bucket="conf", Key="copy/of.bin")["Body"].read(), data)
s3.copy_object(Bucket="conf", Key="copy/of.bin", MetadataDirective="REPLACE",
               ContentType="text/x-new", Metadata={"k": "v"},
               CopySource={"Bucket": "conf", "Key": "d1/d2/obj.bin"})
h2 = s3.head_object(Bucket="conf", Key="copy/of.bin")
expect((h2["Metadata"], h2["ContentType"]), ({"k": "v"}, "text/x-new"))
# The copy-source conditions are checked against the source.
s3.copy_object(Bucket="conf", Key="copy/of.bin", CopySourceIfMatch=etag,
               CopySource={"Bucket": "conf", "Key": "d1/d2/obj.bin"})
for cond in ({"CopySourceIfMatch": '"%s"' % ("0" * 32)}, {"CopySourceIfNoneMatch": etag},
             {"CopySourceIfUnmodifiedSince": datetime.datetime(2001, 1, 1)}):
    expect(code_of(s3.copy_object, Bucket="conf", Key="copy/of.bin",
                   CopySource={"Bucket": "conf", "Key": "d1/d2/obj.bin"}, **cond),
           ("PreconditionFailed", 412))
r = s3.delete_objects(Bucket="conf", Delete={"Objects": [{"Key": "copy/of.bin"},
                                                         {"Key": "never/was"}]})
expect(sorted(d["Key"] for d in r["Deleted"]), ["copy/of.bin", "never/was"])
expect(code_of(s3.head_object, Bucket="conf", Key="copy/of.bin"), ("404", 404))
s3.delete_object(Bucket="conf", Key="never/was")  # 204 even if missing

step("presigned GET")
url = s3.generate_presigned_url("get_object", Params={"Bucket": "conf", "Key": "d1/d2/obj.bin"},
                                ExpiresIn=60)
expect(urllib.request.urlopen(url).read(), data)
bad = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")[:len(url)]
try:
    urllib.request.urlopen(bad)
    raise AssertionError("a tampered presigned URL worked")
except urllib.error.HTTPError as e:
    expect((e.code, err_code(e.read())), (403, "SignatureDoesNotMatch"))
# Expired: signed two hours ago for one hour.
old = (datetime.datetime.utcnow() - datetime.timedelta(hours=2)).strftime("%Y%m%dT%H%M%SZ")
q = {"X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": f"{ak}/{old[:8]}/{REGION}/s3/aws4_request",
     "X-Amz-Date": old, "X-Amz-Expires": "3600", "X-Amz-SignedHeaders": "host"}
canon = "\n".join(["GET", "/conf/d1/d2/obj.bin",
                   "&".join(f"{quote(k, '')}={quote(v, '')}" for k, v in sorted(q.items())),
                   f"host:{host}\n", "host", "UNSIGNED-PAYLOAD"])
sts = "\n".join(["AWS4-HMAC-SHA256", old, f"{old[:8]}/{REGION}/s3/aws4_request",
                 hashlib.sha256(canon.encode()).hexdigest()])
q["X-Amz-Signature"] = hmac.new(sign_key(sk, old[:8]), sts.encode(), hashlib.sha256).hexdigest()
st, _, body = send("GET", "/conf/d1/d2/obj.bin", q, b"", {"host": host})
expect((st, err_code(body)), (403, "AccessDenied"))
assert b"expired" in body, body
q["X-Amz-Expires"] = "10800"  # now in time, but the signature was for 3600
st, _, body = send("GET", "/conf/d1/d2/obj.bin", q, b"", {"host": host})
expect((st, err_code(body)), (403, "SignatureDoesNotMatch"))

step("payload hashes: signed, lying, unsigned, aws-chunked")
st, hd, _ = signed("PUT", "/conf/p/signed.txt", body=b"exact bytes")
expect((st, hd["ETag"]), (200, '"' + hashlib.md5(b"exact bytes").hexdigest() + '"'))
st, _, body = signed("PUT", "/conf/p/lie.txt", body=b"these bytes",
                     payload_hash=hashlib.sha256(b"other bytes").hexdigest())
expect((st, err_code(body)), (400, "XAmzContentSHA256Mismatch"))
expect(code_of(s3.head_object, Bucket="conf", Key="p/lie.txt"), ("404", 404))
st, _, _ = signed("PUT", "/conf/p/unsigned.txt", body=b"free", payload_hash="UNSIGNED-PAYLOAD")
expect(st, 200)
expect(s3.get_object(Bucket="conf", Key="p/unsigned.txt")["Body"].read(), b"free")
parts = [b"x" * 65536, b"y" * 1000]
st, _, body = chunked_put("/conf/p/chunked.bin", parts)
expect(st, 200)
expect(s3.get_object(Bucket="conf", Key="p/chunked.bin")["Body"].read(), b"".join(parts))
st, _, body = chunked_put("/conf/p/tampered.bin", parts, tamper=True)
expect((st, err_code(body)), (403, "SignatureDoesNotMatch"))
expect(code_of(s3.head_object, Bucket="conf", Key="p/tampered.bin"), ("404", 404))
expect(code_of(s3.put_object, Bucket="conf", Key="p/md5.txt", Body=b"abc",
               ContentMD5="1B2M2Y8AsgTpgAmY7PhCfg=="), ("BadDigest", 400))
expect(code_of(s3.head_object, Bucket="conf", Key="p/md5.txt"), ("404", 404))

step("authentication errors")
st, _, body = send("GET", "/conf", {}, b"", {"host": host})
expect((st, err_code(body)), (403, "AccessDenied"))
st, _, body = signed("GET", "/conf", secret="wrong" + sk)
expect((st, err_code(body)), (403, "SignatureDoesNotMatch"))
st, _, body = signed("GET", "/conf", key_id="CFNOSUCHKEY0000000000")
expect((st, err_code(body)), (403, "InvalidAccessKeyId"))
st, _, body = signed("GET", "/conf", when=datetime.datetime.utcnow() - datetime.timedelta(minutes=20))
expect((st, err_code(body)), (403, "RequestTimeTooSkewed"))
expect(code_of(other.get_object, Bucket="conf", Key="d1/d2/obj.bin"), ("AccessDenied", 403))
expect(code_of(other.put_object, Bucket="conf", Key="x", Body=b"1"), ("AccessDenied", 403))
expect(code_of(other.create_bucket, Bucket="theirs"), ("AccessDenied", 403))

step("other error codes")
expect(code_of(s3.delete_bucket, Bucket="conf"), ("BucketNotEmpty", 409))
expect(code_of(s3.put_bucket_versioning, Bucket="conf",
               VersioningConfiguration={"Status": "Suspended"}), ("NotImplemented", 501))
expect(s3.get_bucket_versioning(Bucket="conf").get("Status"), "Enabled")
st, _, body = signed("POST", "/conf/d1/d2/obj.bin")
expect((st, err_code(body)), (405, "MethodNotAllowed"))
st, _, body = signed("POST", "/conf", {"delete": ""}, body=b"<NotDelete/>")
expect((st, err_code(body)), (400, "MalformedXML"))

# The S3 port guards the metrics page as the gateway's own port does.
expect(send("GET", "/metrics", {}, b"", {"host": host})[0], 401)

step("virtual-hosted style")
st, _, body = signed("GET", "/d1/d2/obj.bin", hosthdr=f"conf.{domain}")
expect((st, body), (200, data))
st, _, body = signed("GET", "/", {"list-type": "2", "prefix": "L/a/"},
                     hosthdr=f"conf.{domain}")
assert st == 200 and b"<Key>L/a/1</Key>" in body, body

step("multipart upload")
MiB = 1024 * 1024
parts = [bytes([65 + i]) * (5 * MiB) if i < 2 else b"tail" * 1000 for i in range(3)]
up = s3.create_multipart_upload(Bucket="conf", Key="mp/big.bin", ContentType="text/x-mp",
                                Metadata={"k": "v"})
uid = up["UploadId"]
expect(up["Key"], "mp/big.bin")
# A part sent twice: the second replaces the first.
s3.upload_part(Bucket="conf", Key="mp/big.bin", UploadId=uid, PartNumber=1, Body=b"early")
etags = []
for i, body in enumerate(parts):
    r = s3.upload_part(Bucket="conf", Key="mp/big.bin", UploadId=uid, PartNumber=i + 1, Body=body)
    expect(r["ETag"], '"%s"' % hashlib.md5(body).hexdigest())
    etags.append(r["ETag"])
lp = s3.list_parts(Bucket="conf", Key="mp/big.bin", UploadId=uid)
expect([(p["PartNumber"], p["ETag"], p["Size"]) for p in lp["Parts"]],
       [(i + 1, etags[i], len(parts[i])) for i in range(3)])
lp = s3.list_parts(Bucket="conf", Key="mp/big.bin", UploadId=uid, MaxParts=2)
expect(([p["PartNumber"] for p in lp["Parts"]], lp["IsTruncated"]), ([1, 2], True))
lp = s3.list_parts(Bucket="conf", Key="mp/big.bin", UploadId=uid,
                   PartNumberMarker=lp["NextPartNumberMarker"])
expect(([p["PartNumber"] for p in lp["Parts"]], lp["IsTruncated"]), ([3], False))
up2 = s3.create_multipart_upload(Bucket="conf", Key="mp/other.bin")["UploadId"]
up3 = s3.create_multipart_upload(Bucket="conf", Key="mp/big.bin")["UploadId"]
lu = s3.list_multipart_uploads(Bucket="conf")
expect(sorted((u["Key"], u["UploadId"]) for u in lu["Uploads"]),
       sorted([("mp/big.bin", uid), ("mp/big.bin", up3), ("mp/other.bin", up2)]))
expect([u["Key"] for u in lu["Uploads"]], ["mp/big.bin", "mp/big.bin", "mp/other.bin"])
lu = s3.list_multipart_uploads(Bucket="conf", MaxUploads=1)
expect((len(lu["Uploads"]), lu["IsTruncated"]), (1, True))
lu = s3.list_multipart_uploads(Bucket="conf", KeyMarker=lu["NextKeyMarker"],
                               UploadIdMarker=lu["NextUploadIdMarker"])
expect(len(lu["Uploads"]), 2)
expect([u["Key"] for u in s3.list_multipart_uploads(Bucket="conf", Prefix="mp/o")["Uploads"]],
       ["mp/other.bin"])
expect([u["Key"] for u in s3.list_multipart_uploads(Bucket="conf", KeyMarker="mp/big.bin")
        .get("Uploads", [])], ["mp/other.bin"])
# Nothing of an upload in progress lists as an object.
expect([o["Key"] for o in s3.list_objects_v2(Bucket="conf", Prefix="mp/").get("Contents", [])], [])


def complete(upload, plist, key="mp/big.bin"):
    return s3.complete_multipart_upload(Bucket="conf", Key=key, UploadId=upload,
                                        MultipartUpload={"Parts": plist})


good = [{"PartNumber": i + 1, "ETag": etags[i]} for i in range(3)]
bad_tag = [dict(p) for p in good]
bad_tag[1]["ETag"] = '"%s"' % ("0" * 32)
expect(code_of(complete, uid, bad_tag), ("InvalidPart", 400))
expect(code_of(complete, uid, good[:2] + [{"PartNumber": 4, "ETag": etags[2]}]),
       ("InvalidPart", 400))
expect(code_of(complete, uid, [good[1], good[0], good[2]]), ("InvalidPartOrder", 400))
expect(code_of(other.create_multipart_upload, Bucket="conf", Key="mp/x"), ("AccessDenied", 403))
done = complete(uid, good)
whole = b"".join(parts)
mp_etag = '"%s-3"' % hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
expect(done["ETag"], mp_etag)
got = s3.get_object(Bucket="conf", Key="mp/big.bin")
expect((got["ETag"], got["ContentLength"], got["ContentType"], got["Metadata"]),
       (mp_etag, len(whole), "text/x-mp", {"k": "v"}))
assert got["Body"].read() == whole
lo = s3.list_objects_v2(Bucket="conf", Prefix="mp/")["Contents"]
expect([(o["Key"], o["ETag"], o["Size"]) for o in lo], [("mp/big.bin", mp_etag, len(whole))])
# Completed: the upload is gone.
expect(code_of(s3.list_parts, Bucket="conf", Key="mp/big.bin", UploadId=uid),
       ("NoSuchUpload", 404))
expect(code_of(complete, uid, good), ("NoSuchUpload", 404))
# Parts under 5 MiB but the last: EntityTooSmall.
for n in (1, 2):
    s3.upload_part(Bucket="conf", Key="mp/other.bin", UploadId=up2, PartNumber=n, Body=b"x" * 100)
small = [{"PartNumber": n, "ETag": '"%s"' % hashlib.md5(b"x" * 100).hexdigest()} for n in (1, 2)]
expect(code_of(complete, up2, small, "mp/other.bin"), ("EntityTooSmall", 400))
# One small part alone is the last: allowed.
done = complete(up2, small[:1], "mp/other.bin")
assert s3.get_object(Bucket="conf", Key="mp/other.bin")["Body"].read() == b"x" * 100
# Abort: the parts go, the id is unknown afterwards.
s3.upload_part(Bucket="conf", Key="mp/big.bin", UploadId=up3, PartNumber=1, Body=b"gone")
s3.abort_multipart_upload(Bucket="conf", Key="mp/big.bin", UploadId=up3)
expect(code_of(s3.abort_multipart_upload, Bucket="conf", Key="mp/big.bin", UploadId=up3),
       ("NoSuchUpload", 404))
expect(code_of(s3.upload_part, Bucket="conf", Key="mp/big.bin", UploadId=up3, PartNumber=2,
               Body=b"late"), ("NoSuchUpload", 404))
expect(code_of(s3.list_parts, Bucket="conf", Key="mp/big.bin", UploadId="f" * 32),
       ("NoSuchUpload", 404))
expect(code_of(s3.abort_multipart_upload, Bucket="conf", Key="mp/big.bin", UploadId="nonsense"),
       ("NoSuchUpload", 404))
expect(s3.list_multipart_uploads(Bucket="conf").get("Uploads", []), [])
expect(s3.get_object(Bucket="conf", Key="mp/big.bin")["ETag"], mp_etag)

step("UploadPartCopy, and GetObject/HeadObject ?partNumber")
src = os.urandom(6 * MiB + 777)
s3.put_object(Bucket="conf", Key="pc/src.bin", Body=src)
src_tag = '"%s"' % hashlib.md5(src).hexdigest()
pu = s3.create_multipart_upload(Bucket="conf", Key="pc/dst.bin")["UploadId"]
SRC = {"Bucket": "conf", "Key": "pc/src.bin"}


def copy_part(n, **kw):
    return s3.upload_part_copy(Bucket="conf", Key="pc/dst.bin", UploadId=pu, PartNumber=n,
                               **{"CopySource": SRC, **kw})


future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
past = datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc)
# Part 1: the whole source, its conditions holding.
r = copy_part(1, CopySourceIfMatch=src_tag, CopySourceIfUnmodifiedSince=future)
expect(r["CopyPartResult"]["ETag"], src_tag)
assert abs((future - r["CopyPartResult"]["LastModified"]).total_seconds() - 86400) < 300, r
# Part 2: a range; part 3: a small range (the last part may be small).
cp = [src, src[100:100 + 5 * MiB], src[5:1005]]
r = copy_part(2, CopySourceRange="bytes=100-%d" % (100 + 5 * MiB - 1))
expect(r["CopyPartResult"]["ETag"], '"%s"' % hashlib.md5(cp[1]).hexdigest())
r = copy_part(3, CopySourceRange="bytes=5-1004")
expect(r["CopyPartResult"]["ETag"], '"%s"' % hashlib.md5(cp[2]).hexdigest())
lp = s3.list_parts(Bucket="conf", Key="pc/dst.bin", UploadId=pu)["Parts"]
expect([(p["PartNumber"], p["Size"]) for p in lp], [(i + 1, len(cp[i])) for i in range(3)])
# Errors: a range outside the source, malformed ranges, conditions that fail,
# a missing source, another user's upload, an unknown upload, a version.
expect(code_of(copy_part, 4, CopySourceRange="bytes=0-%d" % len(src)), ("InvalidRange", 416))
for bad in ("bytes=5-", "bytes=9-3", "bits=0-1", "bytes=-5", "bytes=1-2,4-5"):
    expect((bad, code_of(copy_part, 4, CopySourceRange=bad)), (bad, ("InvalidArgument", 400)))
expect(code_of(copy_part, 4, CopySourceIfMatch='"%s"' % ("0" * 32)), ("PreconditionFailed", 412))
expect(code_of(copy_part, 4, CopySourceIfNoneMatch=src_tag), ("PreconditionFailed", 412))
expect(code_of(copy_part, 4, CopySourceIfModifiedSince=future), ("PreconditionFailed", 412))
expect(code_of(copy_part, 4, CopySourceIfUnmodifiedSince=past), ("PreconditionFailed", 412))
expect(code_of(copy_part, 4, CopySource={"Bucket": "conf", "Key": "pc/nope"}), ("NoSuchKey", 404))
expect(code_of(copy_part, 4, CopySource={"Bucket": "nobucket", "Key": "x"}),
       ("NoSuchBucket", 404))
expect(code_of(copy_part, 4,
               CopySource={"Bucket": "conf", "Key": "pc/src.bin", "VersionId": "999999999"}),
       ("NoSuchVersion", 404))
expect(code_of(copy_part, 4, CopySource={"Bucket": "conf", "Key": "pc/src.bin", "VersionId": "t1"}),
       ("InvalidRequest", 400))
expect(code_of(other.upload_part_copy, Bucket="conf", Key="pc/dst.bin", UploadId=pu, PartNumber=4,
               CopySource=SRC), ("AccessDenied", 403))
expect(code_of(s3.upload_part_copy, Bucket="conf", Key="pc/dst.bin", UploadId="f" * 32,
               PartNumber=4, CopySource=SRC), ("NoSuchUpload", 404))
st, _, body = signed("PUT", "/conf/pc/dst.bin", {"partNumber": "4", "uploadId": pu},
                     headers={"x-amz-copy-source": "conf"})
expect((st, err_code(body)), (400, "InvalidArgument"))
st, _, body = signed("PUT", "/conf/pc/dst.bin", {"partNumber": "4", "uploadId": pu},
                     headers={"x-amz-copy-source": "/conf/pc/src.bin",
                              "x-amz-copy-source-if-modified-since": "yesterday"})
expect((st, err_code(body)), (400, "InvalidArgument"))
# Completed from the copied parts: the bytes read back equal.
r = complete(pu, [{"PartNumber": i + 1, "ETag": '"%s"' % hashlib.md5(cp[i]).hexdigest()}
                  for i in range(3)], "pc/dst.bin")
pc_etag = '"%s-3"' % hashlib.md5(b"".join(hashlib.md5(p).digest() for p in cp)).hexdigest()
expect(r["ETag"], pc_etag)
whole = b"".join(cp)
assert s3.get_object(Bucket="conf", Key="pc/dst.bin")["Body"].read() == whole
# ?partNumber of the multipart object: each part's bytes, 206, the count.
at = 0
for i, want in enumerate(cp):
    g = s3.get_object(Bucket="conf", Key="pc/dst.bin", PartNumber=i + 1)
    expect((g["ResponseMetadata"]["HTTPStatusCode"], g["ContentRange"], g["PartsCount"],
            g["ContentLength"], g["ETag"]),
           (206, "bytes %d-%d/%d" % (at, at + len(want) - 1, len(whole)), 3, len(want), pc_etag))
    assert g["Body"].read() == want, i
    h = s3.head_object(Bucket="conf", Key="pc/dst.bin", PartNumber=i + 1)
    expect((h["ResponseMetadata"]["HTTPStatusCode"], h["ContentLength"], h["PartsCount"]),
           (206, len(want), 3))
    at += len(want)
expect(code_of(s3.get_object, Bucket="conf", Key="pc/dst.bin", PartNumber=4),
       ("InvalidPartNumber", 416))
expect(code_of(s3.head_object, Bucket="conf", Key="pc/dst.bin", PartNumber=4), ("416", 416))
expect(code_of(s3.get_object, Bucket="conf", Key="pc/dst.bin", PartNumber=1, Range="bytes=0-1"),
       ("InvalidRequest", 400))
st, _, body = signed("GET", "/conf/pc/dst.bin", {"partNumber": "0"})
expect((st, err_code(body)), (400, "InvalidArgument"))
# A copy keeps the ETag, and so the parts.
s3.copy_object(Bucket="conf", Key="pc/dst2.bin", CopySource="conf/pc/dst.bin")
g = s3.get_object(Bucket="conf", Key="pc/dst2.bin", PartNumber=2)
expect((g["Body"].read(), g["PartsCount"], g["ETag"]), (cp[1], 3, pc_etag))
s3.delete_object(Bucket="conf", Key="pc/dst2.bin")
# The earlier multipart object too (its parts: 5 MiB, 5 MiB, the tail).
g = s3.get_object(Bucket="conf", Key="mp/big.bin", PartNumber=3)
expect((g["Body"].read(), g["PartsCount"]), (parts[2], 3))
# An object not from a multipart upload is its own part 1, and has no other.
g = s3.get_object(Bucket="conf", Key="pc/src.bin", PartNumber=1)
expect((g["ResponseMetadata"]["HTTPStatusCode"], g["ContentLength"], g.get("PartsCount")),
       (206, len(src), None))
assert g["Body"].read() == src
expect(s3.head_object(Bucket="conf", Key="pc/src.bin", PartNumber=1)["ContentLength"], len(src))
expect(code_of(s3.get_object, Bucket="conf", Key="pc/src.bin", PartNumber=2),
       ("InvalidPartNumber", 416))
# A part copied from a multipart object, across its part boundary.
pu2 = s3.create_multipart_upload(Bucket="conf", Key="pc/two.bin")["UploadId"]
r = s3.upload_part_copy(Bucket="conf", Key="pc/two.bin", UploadId=pu2, PartNumber=1,
                        CopySource="conf/pc/dst.bin", CopySourceRange="bytes=%d-%d" % (
                            len(src) - 10, len(src) + 9))
expect(r["CopyPartResult"]["ETag"], '"%s"' % hashlib.md5(whole[len(src) - 10:len(src) + 10])
       .hexdigest())
s3.abort_multipart_upload(Bucket="conf", Key="pc/two.bin", UploadId=pu2)
# No tags are kept: an object's set is empty (aws-cli asks before copying in parts).
expect(s3.get_object_tagging(Bucket="conf", Key="pc/src.bin")["TagSet"], [])
expect(code_of(s3.get_object_tagging, Bucket="conf", Key="pc/nope"), ("NoSuchKey", 404))
expect(code_of(s3.put_object_tagging, Bucket="conf", Key="pc/src.bin",
               Tagging={"TagSet": [{"Key": "a", "Value": "b"}]}), ("NotImplemented", 501))
s3.delete_objects(Bucket="conf", Delete={"Objects": [{"Key": "pc/src.bin"},
                                                     {"Key": "pc/dst.bin"}]})

step("keys through the gateway's JSON API")


def api(method, path, body=None, token=None):
    req = urllib.request.Request(gateway + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req) as r:
            text = r.read()
            return r.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        return e.code, None


st, login = api("POST", "/api/v1/login", {"client": "demo", "user": "admin", "password": admin_pw})
expect(st, 200)
tok = login["token"]
expect(api("GET", "/api/v1/keys")[0], 401)
st, made = api("POST", "/api/v1/keys", token=tok)
expect(st, 201)
st, listed = api("GET", "/api/v1/keys", token=tok)
ids = [k["access_key_id"] for k in listed["keys"]]
assert made["access_key_id"] in ids and ak in ids, listed
assert all("secret_access_key" not in k for k in listed["keys"]), listed
mine = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=made["access_key_id"],
                    aws_secret_access_key=made["secret_access_key"], region_name=REGION,
                    config=cfg)
assert "conf" in [b["Name"] for b in mine.list_buckets()["Buckets"]]
expect(api("DELETE", "/api/v1/keys/" + ak2, token=tok)[0], 404)  # another user's
expect(api("DELETE", "/api/v1/keys/" + made["access_key_id"], token=tok)[0], 204)
expect(code_of(mine.list_buckets), ("InvalidAccessKeyId", 403))
other.list_buckets()  # the other user's key still works

step("cleanup")
for p in s3.get_paginator("list_objects_v2").paginate(Bucket="conf"):
    objs = [{"Key": o["Key"]} for o in p.get("Contents", [])]
    if objs:
        s3.delete_objects(Bucket="conf", Delete={"Objects": objs})
s3.delete_bucket(Bucket="conf")
expect(code_of(s3.head_bucket, Bucket="conf"), ("404", 404))
print("conformance passed")
