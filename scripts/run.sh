#!/usr/bin/env bash
# `make run`: start coffer on this machine and say how to use it.
set -euo pipefail
bin=${1:-build/release/coffer}
data=${COFFER_DATA:-./data}
port=${COFFER_PORT:-8200}
app=http://127.0.0.1:$port
objsrv=http://127.0.0.1:$((port + 1))
gateway=http://127.0.0.1:$((port + 2))
monitor=http://127.0.0.1:$((port + 3))

cat <<TXT
Starting coffer server: 3 filers, the app (uploads, maintenance jobs) on
$app, objsrv (downloads) on $objsrv, the gateway (client files) on
$gateway and the monitor (filer tracking, event log) on $monitor, with
everything stored under $data. Ctrl-C stops it. On the first start the
gateway's admin password is printed below: keep it. The keys every request
between roles is signed with are made in $data (cluster.key, operator.key).

Try, from another terminal in this directory:
  uuid=\$($bin put README.md)              # upload: 2 replicas, prints the UUID
  $bin get \$uuid -o /tmp/readme.copy       # download, verified by SHA-512
  $bin stat \$uuid                          # the record: size, SHA-512, filers
  $bin admin filers                         # the filer summary table (monitor)
  $bin admin audit                          # verify every replica, repair what is bad
  $bin admin log --since 1h                 # what happened: status changes, repairs, jobs
  curl $app/status                          # liveness; the app, objsrv, the filers and the
                                            # monitor answer 401 to anything else unsigned
                                            # (the commands above sign with ./data/operator.key,
                                            # or COFFER_OPERATOR_KEY_FILE=$data/operator.key)
  tok=\$(curl -s -d '{"client":"demo","user":"admin","password":"PASSWORD"}' \\
        $gateway/api/v1/login | sed 's/.*"token":"\\([^"]*\\)".*/\\1/')
  curl -H "Authorization: Bearer \$tok" -T README.md $gateway/api/v1/fs/readme.md
  curl -H "Authorization: Bearer \$tok" $gateway/api/v1/fs/
See README.md for the HTTP APIs; $bin --help for every command.

TXT
exec "$bin" server --data "$data" --port "$port"
