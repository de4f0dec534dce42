"""The engine: a frozen plan, a pure batch function, mergeable state, and drivers that run it.

* :mod:`~ce_cli.engine.plan` — :class:`Plan`, everything the first rows decide, once per input
  (columns, task, classes, logits or probabilities, class weights); immutable and picklable.
* :mod:`~ce_cli.engine.batch` — :func:`evaluate_batch` ``(plan, batch, row_offset) -> State``,
  pure; the batch functions of the other passes (label counts for balanced class weights,
  temperature sums). :mod:`~ce_cli.engine.kernel` — the thread-parallel kernel they run.
* :mod:`~ce_cli.engine.state` — :class:`State`, every collector of one pass, with ``merge``.
* :mod:`~ce_cli.engine.local` — the local driver (one process, threads, read-ahead).
* :mod:`~ce_cli.engine.dask` — the Dask driver (partitions on a cluster, tree-reduced merges).
* :mod:`~ce_cli.engine.run` — the passes of one evaluation, the same for every driver.
"""
