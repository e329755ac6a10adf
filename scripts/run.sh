#!/usr/bin/env bash
# `make run`: start coffer on this machine and say how to use it.
set -euo pipefail
bin=${1:-build/release/coffer}
data=${COFFER_DATA:-./data}
port=${COFFER_PORT:-8200}
app=http://127.0.0.1:$port
objsrv=http://127.0.0.1:$((port + 1))
gateway=http://127.0.0.1:$((port + 2))

cat <<TXT
Starting coffer server: 3 filers, the app (uploads) on $app, objsrv
(downloads) on $objsrv and the gateway (client files) on $gateway, with
everything stored under $data. Ctrl-C stops it. On the first start the
gateway's admin password is printed below: keep it.

Try, from another terminal in this directory:
  uuid=\$($bin put README.md)              # upload: 2 replicas, prints the UUID
  $bin get \$uuid -o /tmp/readme.copy       # download, verified by SHA-512
  $bin stat \$uuid                          # the record: size, SHA-512, filers
  $bin admin filer list                     # the filer summary table
  curl -X POST --data-binary @README.md '$app/v1/objects?replicas=3'
  curl $objsrv/v1/objects/\$uuid
  tok=\$(curl -s -d '{"client":"demo","user":"admin","password":"PASSWORD"}' \\
        $gateway/api/v1/login | sed 's/.*"token":"\\([^"]*\\)".*/\\1/')
  curl -H "Authorization: Bearer \$tok" -T README.md $gateway/api/v1/fs/readme.md
  curl -H "Authorization: Bearer \$tok" $gateway/api/v1/fs/
See README.md for the HTTP APIs; $bin --help for every command.

TXT
exec "$bin" server --data "$data" --port "$port"
