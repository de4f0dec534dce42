"""The column resolver: which columns mean what, and each batch as typed, checked arrays."""
