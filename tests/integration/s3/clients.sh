#!/bin/sh
# clients.sh -- the S3 clients people use, unchanged, against coffer's S3 API
# (run by it_s3): aws-cli (s3 cp/ls/sync/rm/rb, s3api, presign + curl),
# s3cmd (mb/put/get/ls/del) and rclone (copy, sync, ls, check), each also
# with a file over its multipart threshold (aws-cli: 100 MiB in 16 MiB
# parts, and a 20 MiB object copied by the server in parts; s3cmd and
# rclone: 12 MB in 5 MiB parts).
#
# usage: clients.sh ENDPOINT ACCESS_KEY SECRET_KEY WORKDIR
# Exit 0 when every step worked and every byte came back the same.
set -eu
endpoint=$1
ak=$2
sk=$3
work=$4

# A clean environment: no settings of the machine's user reach the clients.
for v in $(env | sed -n 's/^\(AWS_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done
export HOME="$work/home"
export AWS_ACCESS_KEY_ID="$ak" AWS_SECRET_ACCESS_KEY="$sk" AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER=
mkdir -p "$HOME" "$work/up/sub dir"
cd "$work"
hostport=${endpoint#http://}

step() { echo "== $*"; }

head -c 3000000 /dev/urandom >up/big.bin
printf 'hello s3\n' >"up/sub dir/a b+c.txt"
printf 'second\n' >up/two.txt

aws="/usr/bin/aws --endpoint-url $endpoint --no-cli-pager"
step aws-cli
$aws s3 mb s3://awsb
$aws s3 cp up/big.bin s3://awsb/big.bin --only-show-errors
$aws s3 sync up s3://awsb/tree --only-show-errors
$aws s3 ls s3://awsb/ | grep -q 'PRE tree/'
$aws s3 ls --recursive s3://awsb | grep -q 'tree/sub dir/a b+c.txt'
test "$($aws s3 ls --recursive s3://awsb | wc -l)" -eq 4
$aws s3 cp s3://awsb/tree/big.bin got.bin --only-show-errors
cmp got.bin up/big.bin
$aws s3api head-object --bucket awsb --key 'tree/sub dir/a b+c.txt' >head.json
grep -q '"ContentLength": 9' head.json
url=$($aws s3 presign 's3://awsb/tree/sub dir/a b+c.txt' --expires-in 120)
curl -sf "$url" -o presigned.txt
cmp presigned.txt "up/sub dir/a b+c.txt"
$aws s3 sync up s3://awsb/tree --only-show-errors --delete
# Multipart: 100 MiB in 16 MiB parts (7), read back whole.
head -c 104857600 /dev/urandom >mp100.bin
printf '[default]\ns3 =\n  multipart_chunksize = 16MB\n' >awsmp.conf
AWS_CONFIG_FILE=awsmp.conf $aws s3 cp mp100.bin s3://awsb/mp/100.bin --only-show-errors
$aws s3api head-object --bucket awsb --key mp/100.bin >head.json
grep -q '"ContentLength": 104857600' head.json
grep -q -- '-7\\"' head.json
$aws s3 cp s3://awsb/mp/100.bin got100.bin --only-show-errors
cmp got100.bin mp100.bin
rm got100.bin mp100.bin
# A copy over aws-cli's multipart threshold (8 MiB) is made of parts copied
# by the server (UploadPartCopy with ranges): 20 MiB, stored in 2 parts of
# 16 MiB, copied in 3 of 8 MiB (so the copy's ETag is its own: "-3").
head -c 20971520 /dev/urandom >mp20.bin
AWS_CONFIG_FILE=awsmp.conf $aws s3 cp mp20.bin s3://awsb/c/20.bin --only-show-errors
$aws s3api head-object --bucket awsb --key c/20.bin >head.json
grep -q -- '-2\\"' head.json
$aws s3 cp s3://awsb/c/20.bin s3://awsb/c/copy.bin --only-show-errors
$aws s3api head-object --bucket awsb --key c/copy.bin >head.json
grep -q '"ContentLength": 20971520' head.json
grep -q -- '-3\\"' head.json
$aws s3 cp s3://awsb/c/copy.bin got20.bin --only-show-errors
cmp got20.bin mp20.bin
rm got20.bin mp20.bin
$aws s3api list-multipart-uploads --bucket awsb >uploads.json
! grep -q UploadId uploads.json
rm up/two.txt
$aws s3 sync up s3://awsb/tree --only-show-errors --delete
test "$($aws s3 ls --recursive s3://awsb/tree/ | wc -l)" -eq 2
$aws s3 rm --recursive s3://awsb --only-show-errors
$aws s3 rb s3://awsb
if $aws s3 ls s3://awsb 2>err.txt; then exit 1; fi
grep -q NoSuchBucket err.txt
printf 'second\n' >up/two.txt

step s3cmd
cat >s3cfg <<EOF
[default]
access_key = $ak
secret_key = $sk
host_base = $hostport
host_bucket = $hostport
use_https = False
signature_v2 = False
bucket_location = us-east-1
multipart_chunk_size_mb = 15
EOF
s3cmd="s3cmd -c s3cfg --no-progress"
$s3cmd mb s3://cmdb
$s3cmd put up/big.bin s3://cmdb/dir/big.bin
$s3cmd put "up/sub dir/a b+c.txt" "s3://cmdb/dir/a b+c.txt"
$s3cmd ls s3://cmdb/dir/ | grep -q 'a b+c.txt'
$s3cmd ls -r s3://cmdb | grep -q 'dir/big.bin'
$s3cmd get --force s3://cmdb/dir/big.bin got2.bin
cmp got2.bin up/big.bin
$s3cmd info s3://cmdb/dir/big.bin | grep -q "MD5 sum:   $(md5sum up/big.bin | cut -d' ' -f1)"
# Multipart: 12 MB in 5 MiB parts (3).
head -c 12000000 /dev/urandom >mp12.bin
$s3cmd put --multipart-chunk-size-mb=5 mp12.bin s3://cmdb/dir/mp12.bin
$aws s3api head-object --bucket cmdb --key dir/mp12.bin >head.json
grep -q -- '-3\\"' head.json
$s3cmd get --force s3://cmdb/dir/mp12.bin got12.bin
cmp got12.bin mp12.bin
$s3cmd del s3://cmdb/dir/mp12.bin
$s3cmd del s3://cmdb/dir/big.bin "s3://cmdb/dir/a b+c.txt"
test -z "$($s3cmd ls -r s3://cmdb)"
$s3cmd rb s3://cmdb

step rclone
cat >rclone.conf <<EOF
[coffer]
type = s3
provider = Other
access_key_id = $ak
secret_access_key = $sk
endpoint = $endpoint
region = us-east-1
force_path_style = true
upload_cutoff = 100Mi
EOF
rclone="rclone --config rclone.conf -q"
$rclone mkdir coffer:rcb
$rclone copy up coffer:rcb/up
$rclone ls coffer:rcb | grep -q 'up/sub dir/a b+c.txt'
$rclone check up coffer:rcb/up
printf 'new\n' >up/new.txt
rm up/two.txt
$rclone sync up coffer:rcb/up
test "$($rclone lsf -R --files-only coffer:rcb/up | sort | tr '\n' ' ')" = "big.bin new.txt sub dir/a b+c.txt "
$rclone check --download up coffer:rcb/up
# Multipart: 12 MB in 5 MiB parts.
mkdir mpdir
mv mp12.bin mpdir/
$rclone copy --s3-upload-cutoff 5Mi --s3-chunk-size 5Mi mpdir coffer:rcb/mp
$rclone check --download mpdir coffer:rcb/mp
$rclone purge coffer:rcb
echo "all clients passed"
