"""The eval question set: loading, metrics (pure functions), runner, report and gate."""
