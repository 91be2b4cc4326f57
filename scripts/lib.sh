# Shell helpers shared by .ci/run and scripts/*.sh. Source it: . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# first_line CMD [ARG...]: runs CMD to completion, prints the first line of its stdout and returns CMD's
# status. Unlike piping CMD into head under pipefail, it cannot fail because the reader exited first: CMD never
# gets SIGPIPE (HAProxy 3.0 writes `haproxy -v` in several write() calls, and head exits after the first).
first_line() {
  local out status=0
  out="$("$@")" || status=$?
  if [[ -n "$out" ]]; then printf '%s\n' "${out%%$'\n'*}"; fi
  return "$status"
}
