"""The report: the metric registry, and the frozen Report finished from the collected state."""
