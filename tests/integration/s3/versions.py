#!/usr/bin/python3
"""versions.py -- S3 versioning on coffer's file versions, with boto3 (run
by it_s3, case "versions").

Every bucket is versioned (GetBucketVersioning says Enabled; Suspended is
refused). Three puts give three versions, listed newest first by
ListObjectVersions with IsLatest on the current one; each old version reads
back byte for byte with its own ETag and Content-Type; a delete leaves a
delete marker ("t" and the trash entry's id) as the key's latest entry;
removing the marker brings the file back; removing a version deletes it for
good; unknown and malformed version ids give NoSuchVersion and
InvalidArgument; listings page with key and version-id markers and fold
with a delimiter; DeleteObjects takes VersionIds; a user without
permission reads and deletes no version.

usage: versions.py ENDPOINT ACCESS_KEY SECRET_KEY OTHER_KEY OTHER_SECRET
(OTHER_*: a key of a user with no permission on anything.)
"""
import hashlib
import sys

import boto3
import botocore
from botocore.config import Config

endpoint, ak, sk, ak2, sk2 = sys.argv[1:6]
cfg = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
             signature_version="s3v4")
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ak,
                  aws_secret_access_key=sk, region_name="us-east-1", config=cfg)
other = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ak2,
                     aws_secret_access_key=sk2, region_name="us-east-1", config=cfg)
B = "vers"
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


def history(key=None, **kw):
    """Every entry (kind, key, version id, is latest) in listing order,
    following the pages."""
    out = []
    kw = dict(kw)
    while True:
        r = s3.list_object_versions(Bucket=B, **kw)
        # boto3 splits the two kinds; the raw order is by key, then newest
        # first, which both lists keep.
        ents = [("v", v["Key"], v["VersionId"], v["IsLatest"]) for v in r.get("Versions", [])]
        ents += [("d", d["Key"], d["VersionId"], d["IsLatest"])
                 for d in r.get("DeleteMarkers", [])]
        out.append((ents, [p["Prefix"] for p in r.get("CommonPrefixes", [])]))
        if not r["IsTruncated"]:
            return out
        kw["KeyMarker"] = r["NextKeyMarker"]
        if "NextVersionIdMarker" in r:
            kw["VersionIdMarker"] = r["NextVersionIdMarker"]
        else:
            kw.pop("VersionIdMarker", None)


step("bucket versioning")
s3.create_bucket(Bucket=B)
expect(s3.get_bucket_versioning(Bucket=B).get("Status"), "Enabled")
s3.put_bucket_versioning(Bucket=B, VersioningConfiguration={"Status": "Enabled"})
expect(code_of(s3.put_bucket_versioning, Bucket=B,
               VersioningConfiguration={"Status": "Suspended"}), ("NotImplemented", 501))
expect(s3.get_bucket_versioning(Bucket=B).get("Status"), "Enabled")
expect(code_of(other.put_bucket_versioning, Bucket=B,
               VersioningConfiguration={"Status": "Enabled"}), ("AccessDenied", 403))
expect(code_of(s3.get_bucket_versioning, Bucket="no-such-bucket"), ("NoSuchBucket", 404))

step("three puts, three versions")
bodies = [b"first", b"second version", b"third and current"]
vids = []
for i, body in enumerate(bodies):
    r = s3.put_object(Bucket=B, Key="d/k.txt", Body=body, ContentType=f"text/x-v{i + 1}")
    vids.append(r["VersionId"])
    expect(r["ETag"], '"%s"' % hashlib.md5(body).hexdigest())
assert all(v.isdigit() for v in vids) and len(set(vids)) == 3, vids
expect(s3.head_object(Bucket=B, Key="d/k.txt")["VersionId"], vids[2])
r = s3.get_object(Bucket=B, Key="d/k.txt")
expect((r["VersionId"], r["Body"].read()), (vids[2], bodies[2]))
(ents, cps), = history()
expect(ents, [("v", "d/k.txt", vids[2], True), ("v", "d/k.txt", vids[1], False),
              ("v", "d/k.txt", vids[0], False)])
r = s3.list_object_versions(Bucket=B)
expect([v["Size"] for v in r["Versions"]], [len(b) for b in reversed(bodies)])
expect([v["ETag"] for v in r["Versions"]],
       ['"%s"' % hashlib.md5(b).hexdigest() for b in reversed(bodies)])

step("an old version, read back")
for i, body in enumerate(bodies):
    r = s3.get_object(Bucket=B, Key="d/k.txt", VersionId=vids[i])
    expect((r["Body"].read(), r["VersionId"], r["ContentType"], r["ETag"]),
           (body, vids[i], f"text/x-v{i + 1}", '"%s"' % hashlib.md5(body).hexdigest()))
r = s3.head_object(Bucket=B, Key="d/k.txt", VersionId=vids[0])
expect((r["ContentLength"], r["VersionId"]), (len(bodies[0]), vids[0]))
r = s3.get_object(Bucket=B, Key="d/k.txt", VersionId=vids[1], Range="bytes=0-5")
expect(r["Body"].read(), b"second")
expect(code_of(s3.get_object, Bucket=B, Key="d/k.txt", VersionId="999999999"),
       ("NoSuchVersion", 404))
expect(code_of(s3.get_object, Bucket=B, Key="d/other.txt", VersionId=vids[0]),
       ("NoSuchVersion", 404))
expect(code_of(s3.get_object, Bucket=B, Key="d/k.txt", VersionId="not-a-version"),
       ("InvalidArgument", 400))
expect(code_of(other.get_object, Bucket=B, Key="d/k.txt", VersionId=vids[0]),
       ("AccessDenied", 403))

step("copy and copy's version")
r = s3.copy_object(Bucket=B, Key="d/copy.txt", CopySource={"Bucket": B, "Key": "d/k.txt"})
assert r["VersionId"].isdigit(), r
expect(s3.get_object(Bucket=B, Key="d/copy.txt", VersionId=r["VersionId"])["Body"].read(),
       bodies[2])
# A given version as the source: its bytes, ETag and Content-Type.
r = s3.copy_object(Bucket=B, Key="d/old.txt",
                   CopySource={"Bucket": B, "Key": "d/k.txt", "VersionId": vids[0]})
expect(r["CopyObjectResult"]["ETag"], '"%s"' % hashlib.md5(bodies[0]).hexdigest())
r = s3.get_object(Bucket=B, Key="d/old.txt")
expect((r["Body"].read(), r["ContentType"]), (bodies[0], "text/x-v1"))
expect(code_of(s3.copy_object, Bucket=B, Key="d/x.txt",
               CopySource={"Bucket": B, "Key": "d/k.txt", "VersionId": "999999999"}),
       ("NoSuchVersion", 404))
expect(code_of(s3.copy_object, Bucket=B, Key="d/x.txt",
               CopySource={"Bucket": B, "Key": "d/k.txt", "VersionId": "bad"}),
       ("InvalidArgument", 400))
expect(code_of(other.copy_object, Bucket=B, Key="d/x.txt",
               CopySource={"Bucket": B, "Key": "d/k.txt", "VersionId": vids[0]}),
       ("AccessDenied", 403))

step("delete: a delete marker")
r = s3.delete_object(Bucket=B, Key="d/k.txt")
expect(r["DeleteMarker"], True)
marker = r["VersionId"]
assert marker.startswith("t") and marker[1:].isdigit(), marker
expect(code_of(s3.get_object, Bucket=B, Key="d/k.txt"), ("NoSuchKey", 404))
(ents, cps), = history(Prefix="d/k")
expect(ents, [("v", "d/k.txt", vids[2], False), ("v", "d/k.txt", vids[1], False),
              ("v", "d/k.txt", vids[0], False), ("d", "d/k.txt", marker, True)])
expect(code_of(s3.get_object, Bucket=B, Key="d/k.txt", VersionId=marker),
       ("MethodNotAllowed", 405))
# A deleted file's versions still read.
expect(s3.get_object(Bucket=B, Key="d/k.txt", VersionId=vids[1])["Body"].read(), bodies[1])
expect(code_of(other.delete_object, Bucket=B, Key="d/k.txt", VersionId=marker),
       ("AccessDenied", 403))

step("the delete marker removed: the file is back")
r = s3.delete_object(Bucket=B, Key="d/k.txt", VersionId=marker)
expect((r["DeleteMarker"], r["VersionId"]), (True, marker))
r = s3.get_object(Bucket=B, Key="d/k.txt")
expect((r["Body"].read(), r["VersionId"]), (bodies[2], vids[2]))
(ents, cps), = history(Prefix="d/k")
expect([e[2] for e in ents], list(reversed(vids)))

step("one version deleted for good")
r = s3.delete_object(Bucket=B, Key="d/k.txt", VersionId=vids[1])
expect(r["VersionId"], vids[1])
expect(code_of(s3.get_object, Bucket=B, Key="d/k.txt", VersionId=vids[1]),
       ("NoSuchVersion", 404))
(ents, cps), = history(Prefix="d/k")
expect(ents, [("v", "d/k.txt", vids[2], True), ("v", "d/k.txt", vids[0], False)])
# The current one: the one before becomes current.
s3.delete_object(Bucket=B, Key="d/k.txt", VersionId=vids[2])
r = s3.get_object(Bucket=B, Key="d/k.txt")
expect((r["Body"].read(), r["VersionId"], r["ContentType"]), (bodies[0], vids[0], "text/x-v1"))
# The only one: the key is gone, and deleting again is no error.
s3.delete_object(Bucket=B, Key="d/k.txt", VersionId=vids[0])
expect(code_of(s3.head_object, Bucket=B, Key="d/k.txt"), ("404", 404))
expect(history(Prefix="d/k"), [([], [])])
s3.delete_object(Bucket=B, Key="d/k.txt", VersionId=vids[0])

step("a key put again after a delete")
a1 = s3.put_object(Bucket=B, Key="again", Body=b"old")["VersionId"]
m1 = s3.delete_object(Bucket=B, Key="again")["VersionId"]
a2 = s3.put_object(Bucket=B, Key="again", Body=b"new")["VersionId"]
(ents, cps), = history(Prefix="again")
expect(ents, [("v", "again", a2, True), ("v", "again", a1, False), ("d", "again", m1, False)])
expect(s3.get_object(Bucket=B, Key="again", VersionId=a1)["Body"].read(), b"old")
# Its marker cannot go while the newer file holds the key.
expect(code_of(s3.delete_object, Bucket=B, Key="again", VersionId=m1),
       ("OperationAborted", 409))

step("pages, markers and a delimiter")
for k in ("p/a", "p/b", "p/c", "q/x/1", "q/y"):
    s3.put_object(Bucket=B, Key=k, Body=b"1")
    s3.put_object(Bucket=B, Key=k, Body=b"22")
s3.delete_object(Bucket=B, Key="p/b")
s3.put_object(Bucket=B, Key="q/gone", Body=b"1")
s3.delete_object(Bucket=B, Key="q/gone")
whole, = history(Prefix="p/")
expect([(e[0], e[1], e[3]) for e in whole[0]],
       [("v", "p/a", True), ("v", "p/a", False), ("v", "p/b", False), ("v", "p/b", False),
        ("v", "p/c", True), ("v", "p/c", False), ("d", "p/b", True)])
for size in (1, 2, 3):
    pages = history(Prefix="p/", MaxKeys=size)
    got = sorted(e for ents, _ in pages for e in ents)
    expect(got, sorted(whole[0]))
    assert all(len(ents) <= size for ents, _ in pages), pages
(ents, cps), = history(Delimiter="/")
expect(sorted({e[1] for e in ents}), ["again"])
expect(cps, ["d/", "p/", "q/"])
(ents, cps), = history(Prefix="q/", Delimiter="/")
expect(sorted({e[1] for e in ents}), ["q/gone", "q/y"])
expect(cps, ["q/x/"])
pages = history(Prefix="q/", Delimiter="/", MaxKeys=1)
expect([p for _, cp in pages for p in cp], ["q/x/"])
r = s3.list_object_versions(Bucket=B, Prefix="p/", KeyMarker="p/b")
expect(sorted({v["Key"] for v in r.get("Versions", [])}), ["p/c"])
expect(code_of(s3.list_object_versions, Bucket=B, KeyMarker="p/a", VersionIdMarker="x"),
       ("InvalidArgument", 400))
expect(code_of(other.list_object_versions, Bucket=B), ("AccessDenied", 403))

step("DeleteObjects with version ids")
pa = [e[2] for e in whole[0] if e[1] == "p/a"]
pb_marker = [e[2] for e in whole[0] if e[1] == "p/b" and e[0] == "d"][0]
r = s3.delete_objects(Bucket=B, Delete={"Objects": [
    {"Key": "p/a", "VersionId": pa[0]}, {"Key": "p/b", "VersionId": pb_marker},
    {"Key": "p/c"}]})
got = {(d["Key"], d.get("VersionId"), d.get("DeleteMarker"), d.get("DeleteMarkerVersionId"))
       for d in r["Deleted"]}
c_marker = [d["DeleteMarkerVersionId"] for d in r["Deleted"] if d["Key"] == "p/c"][0]
expect(got, {("p/a", pa[0], None, None), ("p/b", pb_marker, True, pb_marker),
             ("p/c", None, True, c_marker)})
expect(r.get("Errors", []), [])
expect(s3.get_object(Bucket=B, Key="p/a")["Body"].read(), b"1")
expect(s3.get_object(Bucket=B, Key="p/b")["Body"].read(), b"22")
expect(code_of(s3.head_object, Bucket=B, Key="p/c"), ("404", 404))
r = s3.delete_objects(Bucket=B, Delete={"Objects": [{"Key": "p/a", "VersionId": "bogus"}]})
expect([(x["Key"], x["Code"]) for x in r.get("Errors", [])], [("p/a", "InvalidArgument")])
expect(s3.get_object(Bucket=B, Key="p/a")["Body"].read(), b"1")

step("cleanup: every version deleted, nothing is left")
for ents, _ in history():
    for kind, key, vid, _ in ents:
        if kind == "v":
            s3.delete_object(Bucket=B, Key=key, VersionId=vid)
expect(history(), [([], [])])
s3.delete_bucket(Bucket=B)
print("versions passed")
