"""Nightly newsbeam ingest on Cloud Composer / Airflow: one Dataflow Flex Template job per day.

Copy this file into the environment's dags/ folder and set the Airflow Variables it
reads (deploy/README.md lists them). Each run ingests the articles published on its
logical date, ``{{ ds }}``: with a data-interval timetable the run for 2026-11-28
starts once that day's interval has ended (2026-11-29 02:15 UTC), so ``ds`` is the
day that just ended, as ``--date yesterday`` is for the cron and Scheduler jobs. The
timetable is named explicitly because Airflow 3 gives a bare cron string trigger
semantics (``ds`` would then be the day of the run).

``catchup=True``: nights missed while the DAG was paused run when it resumes, and a
backfill is ``airflow dags backfill -s 2026-11-01 -e 2026-11-27 newsbeam_nightly_ingest``
(Airflow 3: ``airflow backfill create --dag-id newsbeam_nightly_ingest --from-date …
--to-date …``). Re-running a day adds nothing, so retries and backfills are safe;
``max_active_runs=1`` keeps two days from deduplicating against the same output at
once. The task waits for the Dataflow job, so a failed job fails the task and is retried.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow import DAG
from airflow.providers.google.cloud.operators.dataflow import DataflowStartFlexTemplateOperator
from airflow.timetables.interval import CronDataIntervalTimetable

with DAG(
    dag_id="newsbeam_nightly_ingest",
    description="newsbeam batch ingest of the articles published on the logical date (UTC), on Dataflow",
    schedule=CronDataIntervalTimetable("15 2 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=True,
    max_active_runs=1,
    default_args={
        "retries": 2,
        "retry_delay": dt.timedelta(minutes=15),
    },
    tags=["newsbeam", "dataflow"],
) as dag:
    DataflowStartFlexTemplateOperator(
        task_id="ingest",
        project_id="{{ var.value.newsbeam_project }}",
        location="{{ var.value.newsbeam_region }}",
        wait_until_finished=True,
        body={
            "launchParameter": {
                "jobName": "newsbeam-ingest-{{ ds_nodash }}",
                "containerSpecGcsPath": "gs://{{ var.value.newsbeam_bucket }}/templates/newsbeam-ingest.json",
                "parameters": {
                    "mode": "ingest",
                    "input": "{{ var.value.newsbeam_input }}",
                    "output": "gs://{{ var.value.newsbeam_bucket }}/lake",
                    "date": "{{ ds }}",
                    "contact_url": "{{ var.value.newsbeam_contact_url }}",
                    "fetch_shards": "4",
                    "sdk_container_image": "{{ var.value.newsbeam_image }}",
                },
                "environment": {
                    "tempLocation": "gs://{{ var.value.newsbeam_bucket }}/tmp",
                    "stagingLocation": "gs://{{ var.value.newsbeam_bucket }}/staging",
                    "serviceAccountEmail": "{{ var.value.newsbeam_worker_service_account }}",
                    "maxWorkers": 4,
                    "additionalUserLabels": {"app": "newsbeam", "schedule": "airflow"},
                },
            }
        },
    )
