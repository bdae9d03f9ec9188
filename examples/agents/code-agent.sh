# A stand-in for a coding agent under the `code` profile: it does its job, then tries the
# things a careless or hostile agent tries. Run it with the script on stdin:
#   warden run --profile code -- sh -s < examples/agents/code-agent.sh
try() { printf '%-48s' "$1"; shift; if "$@" 2>/dev/null; then echo allowed; else echo "denied"; fi; }

try "edit Sources/greet.c (its own zone)"        sh -c 'echo "/* reviewed */" >> Sources/greet.c'
try "edit Tests/greet_test.sh (the test role's)" sh -c 'echo "exit 0" >> Tests/greet_test.sh'
try "read ~/.ssh"                                ls "$HOME/.ssh"
try "read /etc/shadow"                           cat /etc/shadow
try "run curl (not in the code role's tools)"    /usr/bin/curl --version
try "write scratch /tmp (private to this run)"   sh -c 'echo scratch > /tmp/note'
try "run a binary copied into scratch"           sh -c 'cp /bin/ls /tmp/ls && /tmp/ls'
try "see the caller's secrets in the env"        sh -c 'env | grep -q DEMO_SECRET'
