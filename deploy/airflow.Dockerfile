# Airflow 3 with the hub installed, so the tier DAGs' tasks can call it.
FROM apache/airflow:3.1.3-python3.11
COPY --chown=airflow:root . /opt/hub-src
RUN pip install --no-cache-dir /opt/hub-src
ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/hub-src/dags
