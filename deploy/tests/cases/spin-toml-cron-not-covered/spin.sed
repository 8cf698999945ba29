# The repository's spin.toml with a new cron-triggered component.
$a\
\
[[trigger.cron]]\
cron_expression = "0 0 * * * *"\
component = "cleanup-job"\
\
[component.cleanup-job]\
source = "target/wasm32-wasip2/release/cleanup_job.wasm"
