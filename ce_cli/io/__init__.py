"""Sources and sinks: input readers (files, URLs, stdin), the labels join, error locations,
files written atomically."""
