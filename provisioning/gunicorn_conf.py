"""gunicorn settings for every process of the project: `gunicorn -c python:provisioning.gunicorn_conf …`.
The Server header names no server or version (ASVS: no version disclosure)."""

from gunicorn.http import wsgi as _wsgi

_wsgi.SERVER = "mon-compte-partenaire"  # read by each response; gunicorn's default names itself and its version
bind = "127.0.0.1:8090"
workers = 2
accesslog = None  # the application logs each request as a JSON line, without its query (provisioning/logs.py):
# gunicorn's line would carry the query string, where authorization codes and states travel
forwarded_allow_ips = "127.0.0.1"
