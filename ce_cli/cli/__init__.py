"""The command line: commands and options, the console script's launcher, progress, config files."""
