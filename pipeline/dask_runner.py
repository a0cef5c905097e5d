"""The batch pipeline on Dask (``dask.distributed``): Beam 2.77's DaskRunner, made correct for it.

Beam 2.77's ``DaskRunner`` turns Create, ParDo, GroupByKey and Flatten into
``dask.bag`` operations, but measured here on our graph it would lose data:

1. every consumer of a multi-output ParDo receives *all* of its outputs, whatever
   the tag (dead letters would be parsed as articles, and articles written as
   dead letters);
2. what a DoFn emits in ``finish_bundle`` is dropped (``BatchElements``, under
   entity recognition, emits its last batch there; Beam's own file sinks write
   empty files);
3. only the last-visited leaf of the graph is computed (feed health, the feed
   state and the publish step would silently not run);
4. ``metrics()`` raises, so a run summary could not be built;
5. a side input is computed inside every task that reads it (and, materialised
   naively with ``to_delayed()``, the steps before it run twice: writers wrote
   files the publish step never saw);
6. ``Reshuffle`` is a no-op, so a run started from one input pattern stays in
   one partition, on one worker.

:class:`NewsbeamDaskRunner` keeps Beam's translation of each primitive and
fixes those six: outputs are tagged and routed to their own consumers; a
DoFn's bundle is collected after ``finish_bundle``, and its instance is set up
once per worker thread and reused; every leaf is computed;
each task returns its step's metric updates next to its data, and they are
gathered into ``DirectMetrics``; a side input is materialised once and handed
to the tasks that read it; ``Reshuffle`` spreads its input over the cluster's
partitions. Windows are still ignored and stateful DoFns are not supported:
the batch pipeline uses neither (one global window, no state), and
``newsbeam stream`` does not offer Dask.

Pinned to the Beam 2.77 internals it reuses (``dask_overrides``, the
``_Create``/``_GroupByKeyOnly``/``_Flatten``/``_Reshuffle`` stand-ins); the
equivalence test in ``tests/test_dask.py`` is what guards an upgrade.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from typing import Any, Iterable, NamedTuple, Optional

import apache_beam as beam
from apache_beam.internal import pickler
from apache_beam.metrics.execution import MetricsContainer, MetricUpdates
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.pipeline import AppliedPTransform, PipelineVisitor
from apache_beam.runners.common import DoFnContext, DoFnInvoker, DoFnSignature, Receiver, _OutputHandler
from apache_beam.runners.dask.overrides import _Create, _Flatten, _GroupByKeyOnly, _Reshuffle, dask_overrides
from apache_beam.runners.direct.direct_metrics import DirectMetrics
from apache_beam.runners.direct.direct_runner import BundleBasedDirectRunner
from apache_beam.runners.runner import PipelineResult, PipelineState
from apache_beam.runners.worker import statesampler
from apache_beam.transforms.sideinputs import SideInputMap
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.counters import CounterFactory
from apache_beam.utils.windowed_value import WindowedValue

from pipeline.options import DaskRunOptions

_LOG = logging.getLogger("newsbeam")


class _Tagged(NamedTuple):
    """An element of a ParDo's tagged output: only that tag's consumers see it."""

    tag: str
    value: Any


class _Metrics(NamedTuple):
    """The metric updates of one step over one partition, travelling with its data."""

    step: str
    updates: MetricUpdates


class _Collect(Receiver):
    def __init__(self, tag: Optional[str], into: list[Any]):
        self.tag = tag
        self.into = into

    def receive(self, windowed_value: WindowedValue) -> None:
        value = windowed_value.value
        self.into.append(value if self.tag is None else _Tagged(self.tag, value))


class _Receivers(dict):  # type: ignore[type-arg]
    """Every output tag of one bundle into one list, main outputs bare, the others tagged."""

    def __init__(self) -> None:
        super().__init__()
        self.collected: list[Any] = []

    def __missing__(self, tag: Optional[str]) -> _Collect:
        receiver = _Collect(tag, self.collected)
        self[tag] = receiver
        return receiver


def _windowed(value: Any) -> WindowedValue:
    return value if isinstance(value, WindowedValue) else WindowedValue(value, 0, (GlobalWindow(),))


def select(items: Iterable[Any], tag: Optional[str]) -> list[Any]:
    """The elements of one output of a ParDo's partition: main (``None``) or one tag; never metrics."""
    if tag is None:
        return [item for item in items if not isinstance(item, (_Tagged, _Metrics))]
    return [item.value for item in items if isinstance(item, _Tagged) and item.tag == tag]


def _metrics_only(items: Iterable[Any]) -> list[_Metrics]:
    return [item for item in items if isinstance(item, _Metrics)]


def _nothing(items: Iterable[Any]) -> list[Any]:
    for _ in items:
        pass
    return []


def _deal(items: Iterable[Any], partitions: int, start: int) -> list[tuple[int, Any]]:
    """Partition ``start``'s elements dealt round-robin to ``partitions`` keys, from key ``start`` (a Reshuffle's first half).

    Starting each partition at its own index spreads one element a partition as well as many in one.
    """
    return [((start + index) % partitions, item) for index, item in enumerate(items)]


def _undeal(groups: Iterable[tuple[int, Iterable[tuple[int, Any]]]]) -> list[Any]:
    return [item for _, pairs in groups for _, item in pairs]


def _as_list(*partitions: Iterable[Any]) -> list[Any]:
    return [item for partition in partitions for item in partition]


#: DoFn instances of this worker process, set up once and reused bundle after bundle (as Beam's
#: workers do): per-bundle set-up would reload spaCy's model for every partition, since Beam's
#: ``Shared`` keeps only the most recently acquired object alive between uses.
_INSTANCES: OrderedDict[tuple[int, str, str], tuple[Any, Any, Any]] = OrderedDict()
_KEEP = 64


def _key(label: str, payload: bytes) -> tuple[int, str, str]:
    # Per thread: one DoFn instance is never used by two bundles at once.
    return threading.get_ident(), label, hashlib.sha256(payload).hexdigest()


def _instance(label: str, payload: bytes) -> tuple[Any, Any, Any, bool]:
    """This thread's instance of a step's DoFn (with its args), and whether it is new (needs ``setup``)."""
    key = _key(label, payload)
    found = _INSTANCES.get(key)
    if found is not None:
        _INSTANCES.move_to_end(key)
        return (*found, False)
    fn, args, kwargs = pickler.loads(payload)
    _INSTANCES[key] = (fn, args, kwargs)
    while len(_INSTANCES) > _KEEP:  # a long-lived cluster runs many pipelines: old steps' DoFns go
        _, (old, _args, _kwargs) = _INSTANCES.popitem(last=False)
        _teardown(old)
    return fn, args, kwargs, True


def _discard(label: str, payload: bytes) -> None:
    found = _INSTANCES.pop(_key(label, payload), None)
    if found is not None:
        _teardown(found[0])


def _teardown(fn: Any) -> None:
    try:
        fn.teardown()
    except Exception:  # noqa: BLE001 - teardown is best effort, in Beam as here
        _LOG.warning("teardown of %s failed", type(fn).__name__, exc_info=True)


def run_bundle(
    items: Iterable[Any],
    label: str,
    payload: bytes,
    window_fn: Any,
    side_specs: list[tuple[type, Any]],
    *side_values: list[Any],
) -> list[Any]:
    """One partition through one DoFn as one bundle: its outputs after ``finish_bundle``, then its metrics."""
    receivers = _Receivers()
    handler = _OutputHandler(
        window_fn=window_fn,
        main_receivers=receivers[None],
        tagged_receivers=receivers,
        per_element_output_counter=None,
        output_batch_converter=None,
        process_yields_batches=False,
        process_batch_yields_elements=False,
    )
    side_inputs = [
        SideInputMap(
            view,  # type: ignore[arg-type]
            options,
            [_windowed(v) for v in values],
        )
        for (view, options), values in zip(side_specs, side_values, strict=True)
    ]
    fn, args, kwargs, fresh = _instance(label, payload)
    container = MetricsContainer(label)
    sampler = statesampler.StateSampler(label, CounterFactory())
    statesampler.set_current_tracker(sampler)
    try:
        with sampler.scoped_state(label, "process", metrics_container=container):
            invoker = DoFnInvoker.create_invoker(
                DoFnSignature(fn),
                handler,
                context=DoFnContext(label, state=None),
                side_inputs=side_inputs,
                input_args=list(args),
                input_kwargs=kwargs,
                user_state_context=None,
                bundle_finalizer_param=beam.DoFn.BundleFinalizerParam(),
            )
            if fresh:
                invoker.invoke_setup()
            invoker.invoke_start_bundle()
            for item in items:
                invoker.invoke_process(_windowed(item))
            invoker.invoke_finish_bundle()
    except BaseException:
        _discard(label, payload)  # as Beam does: an instance that failed a bundle is not used again
        raise
    finally:
        statesampler.set_current_tracker(None)
    return [*receivers.collected, _Metrics(label, container.get_cumulative())]


def _group(items: Iterable[Any]) -> list[Any]:
    """``(key, [(key, windowed value), ...])`` from dask's groupby → Beam's ``(key, [value, ...])``."""
    return [
        (key, [pair[1].value if isinstance(pair[1], WindowedValue) else pair[1] for pair in pairs])
        for key, pairs in items
    ]


class _Translator(PipelineVisitor):
    """Beam's primitives → ``dask.bag``, with outputs routed by tag and every leaf and metric kept."""

    def __init__(self, partitions: int):
        import dask.bag as db

        self.db = db
        self.partitions = partitions
        self.bags: dict[AppliedPTransform, Any] = {}
        self.selected: dict[tuple[AppliedPTransform, Optional[str]], Any] = {}
        self.consumed: set[AppliedPTransform] = set()
        self.metrics: list[Any] = []

    def _input(self, pcoll: Any) -> Any:
        producer = pcoll.producer
        self.consumed.add(producer)
        bag = self.bags[producer]
        if type(producer.transform) is not beam.ParDo:
            return bag
        key = (producer, pcoll.tag)
        if key not in self.selected:
            self.selected[key] = bag.map_partitions(select, pcoll.tag)
        return self.selected[key]

    def visit_transform(self, node: AppliedPTransform) -> None:
        import dask

        transform = node.transform
        kind = type(transform)
        inputs = [self._input(p) for p in node.inputs if getattr(p, "producer", None) is not None]
        if kind is _Create:
            values = list(transform.values)  # type: ignore[union-attr]
            bag = self.db.from_sequence(values, npartitions=max(1, min(len(values), self.partitions)))
        elif kind is beam.ParDo:
            if DoFnSignature(transform.fn).is_stateful_dofn():  # type: ignore[union-attr]
                raise NotImplementedError(f"{node.full_label}: stateful DoFns cannot run on the DaskRunner")
            main = next(iter(node.main_inputs.values()))
            window_fn = main.windowing.windowfn if hasattr(main, "windowing") else None
            side_specs, side_values = [], []
            for side in node.side_inputs:
                side_specs.append((type(side), side._view_options()))
                side_values.append(dask.delayed(_as_list)(*self._input(side.pvalue).to_delayed(optimize_graph=False)))
            # The DoFn goes into the graph once, as bytes, not once per task.
            fn_args = (transform.fn, transform.args, transform.kwargs)  # type: ignore[union-attr]
            payload = dask.delayed(pickler.dumps(fn_args), traverse=False)
            bag = inputs[0].map_partitions(run_bundle, node.full_label, payload, window_fn, side_specs, *side_values)
            self.metrics.append(bag.map_partitions(_metrics_only))
        elif kind is _GroupByKeyOnly:
            bag = inputs[0].groupby(lambda pair: pair[0], npartitions=self.partitions).map_partitions(_group)
        elif kind is _Flatten:
            bag = self.db.concat(inputs) if inputs else self.db.from_sequence([], npartitions=1)
            if bag.npartitions > self.partitions:
                # concat adds partitions up; left alone, every Flatten would multiply the tasks after it.
                bag = bag.repartition(npartitions=self.partitions)
        elif kind is _Reshuffle:
            # A repartition only moves partition boundaries: elements one step put in one
            # partition (a WARC's byte ranges, planned by the task that read its path) would stay
            # on one worker. Dealt round-robin to keys and grouped, they move.
            partitions = self.partitions
            bag = inputs[0]
            if bag.npartitions != partitions:
                bag = bag.repartition(npartitions=partitions)
            dealt = [
                dask.delayed(_deal)(part, partitions, index)
                for index, part in enumerate(bag.to_delayed(optimize_graph=False))
            ]
            bag = (
                self.db.from_delayed(dealt)
                .groupby(lambda pair: pair[0], npartitions=partitions, shuffle="tasks")
                .map_partitions(_undeal)
            )
        elif inputs:
            # Windowing steps and GroupByKey's window half: identities under one global window.
            bag = inputs[0]
        else:
            raise NotImplementedError(f"{node.full_label}: {kind.__name__} has no translation for the DaskRunner")
        self.bags[node] = bag

    def outputs(self) -> Any:
        """One bag over every leaf and every step's metrics: computing it runs the whole graph once."""
        leaves = [
            bag.map_partitions(_nothing)
            for node, bag in self.bags.items()
            if node not in self.consumed and type(node.transform) is not beam.ParDo
        ]
        return self.db.concat([*self.metrics, *leaves])


class DaskRunResult(PipelineResult):
    def __init__(self, future: Any, client: Any, cluster: Any):
        super().__init__(PipelineState.RUNNING)
        self._future = future
        self._client = client
        self._cluster = cluster
        self._metrics = DirectMetrics()

    def wait_until_finish(self, duration: Optional[int] = None) -> str:
        """Waits (``duration`` in ms, Beam's unit; None: until done); still RUNNING when the time ran out."""
        if self._state != PipelineState.RUNNING:
            return self._state
        try:
            items = self._future.result(timeout=duration / 1000 if duration else None)
        except TimeoutError:
            return self._state  # still running: the cluster stays up for the next wait
        except BaseException:
            self._state = PipelineState.FAILED
            self._close()
            raise
        for number, item in enumerate(items):
            if isinstance(item, _Metrics):
                self._metrics.commit_logical(number, item.updates)
                self._metrics.commit_physical(number, item.updates)
        self._state = PipelineState.DONE
        self._close()
        return self._state

    def cancel(self) -> str:
        self._client.cancel(self._future)
        self._close()
        self._state = PipelineState.CANCELLED
        return self._state

    def metrics(self) -> DirectMetrics:
        return self._metrics

    def _close(self) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


class NewsbeamDaskRunner(BundleBasedDirectRunner):
    """Runs a batch pipeline on a dask.distributed cluster: a local one, or the one at ``--dask_address``."""

    @staticmethod
    def is_fnapi_compatible() -> bool:
        return False

    def run_pipeline(self, pipeline: beam.Pipeline, options: PipelineOptions) -> DaskRunResult:
        import distributed

        logging.getLogger("distributed").setLevel(logging.WARNING)
        own = options.view_as(DaskRunOptions)
        address = own.dask_address
        cluster = None
        if address:
            client = distributed.Client(address)
        else:
            cluster = distributed.LocalCluster(
                n_workers=own.dask_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            client = distributed.Client(cluster)
        try:
            threads = sum(client.nthreads().values()) or 1
            pipeline.replace_all(dask_overrides())
            translator = _Translator(own.dask_partitions or 2 * threads)
            pipeline.visit(translator)
            future = client.compute(translator.outputs())
        except BaseException:
            client.close()
            if cluster is not None:
                cluster.close()
            raise
        _LOG.info("dask: %d worker(s), %d thread(s), %s", len(client.nthreads()), threads, address or "local cluster")
        return DaskRunResult(future, client, cluster)
