#!/usr/bin/env bash
# Runs every test: Core unit tests, PowerShell runspace tests against the staged module, the
# Pester tests of the user's pipelines in pwsh (tests/Pester), and the root integration tests (they skip with a reason when not root, and fail instead when
# VSERVER_TEST_STRICT=1, as in CI). Ends with one line: N passed, N failed, N skipped.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1

results=TestResults
rm -rf "$results"
# a test that hangs is stopped after 10 minutes (the longest passes in about 3) and named, instead of
# holding the run until CI's own limit ends it with nothing said
dotnet test VServer.sln -c Release --no-build -nologo --logger "trx" --results-directory "$results" -v quiet \
  --blame-hang-timeout 10m --blame-hang-dump-type none
rc=$?

passed=0; failed=0; skipped=0; files=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  files=$((files + 1))
  counters=$(grep -o '<Counters [^>]*>' "$trx")
  total=$(sed -n 's/.* total="\([0-9]*\)".*/\1/p' <<<"$counters")
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
  f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  e=$(sed -n 's/.* error="\([0-9]*\)".*/\1/p' <<<"$counters")
  t=$(sed -n 's/.* timeout="\([0-9]*\)".*/\1/p' <<<"$counters")
  a=$(sed -n 's/.* aborted="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + p))
  failed=$((failed + f + e + t + a))
  skipped=$((skipped + total - p - f - e - t - a))
done
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  echo "test: dotnet test exited with $rc and no failed test in its results (a hang or a crash of the test host: see above)" >&2
  failed=$((failed + 1))
fi
if [ "$files" -lt 2 ]; then
  echo "test: expected results from 2 test projects, found $files" >&2
  failed=$((failed + 1))
fi

# Pester: the user's pipelines in pwsh, counted in the same summary
. scripts/env.sh
export PSModulePath="$VSERVER_MODULES${PSModulePath:+:$PSModulePath}"
# why each failed xunit test failed (the console above names them only)
[ "$rc" -ne 0 ] && pwsh -NoProfile -NonInteractive -File scripts/failures.ps1 "$results"/*.trx
pwsh -NoProfile -NonInteractive -File tests/Invoke-PesterTests.ps1 -CountFile "$results/pester.count" -ResultFile "$results/pester.xml"
prc=$?
if read -r p f s < "$results/pester.count" 2>/dev/null; then
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
else
  echo "test: Pester did not report its results" >&2
  failed=$((failed + 1))
fi
if [ "$prc" -ne 0 ]; then
  echo "test: the Pester run exited with $prc" >&2
  failed=$((failed + 1))
fi
if [ "${VSERVER_TEST_STRICT:-}" = "1" ] && [ "$skipped" -gt 0 ]; then
  echo "test: $skipped test(s) skipped in strict mode; a skip is a failure here" >&2
  failed=$((failed + skipped))
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$rc" -eq 0 ] && [ "$failed" -eq 0 ]
