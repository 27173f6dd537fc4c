-- A second database for Airflow's metadata beside the hub's own (hub, created by the image).
CREATE DATABASE airflow OWNER hub;
