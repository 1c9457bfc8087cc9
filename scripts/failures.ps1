# Prints, for every failed test in the trx files given, its name, its message and the top of its stack,
# so a CI log says why a test failed and not only which.
param([Parameter(Mandatory, ValueFromRemainingArguments)][string[]] $Path)
foreach ($file in $Path) {
    [xml] $trx = Get-Content -Raw -LiteralPath $file
    foreach ($r in $trx.TestRun.Results.UnitTestResult | Where-Object outcome -ne 'Passed' | Where-Object outcome -ne 'NotExecuted') {
        "---- $($r.outcome): $($r.testName)"
        $info = $r.Output.ErrorInfo
        if ($info) {
            ($info.Message -split "`n" | Select-Object -First 20) -join "`n"
            ($info.StackTrace -split "`n" | Select-Object -First 8) -join "`n"
        }
    }
}
