"""What a pass collects (sums, bootstrap replicates, groups, worst rows, sequences), mergeable."""
