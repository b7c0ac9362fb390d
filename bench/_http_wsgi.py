"""The WSGI application that bench/http_annotate.py serves with gunicorn: config.wsgi's, plus a
response header `X-SQL-Queries` with the number of statements Django sent for the request (BEGIN and
COMMIT are not sent as statements). Only the benchmark uses it; the product has no such header."""

from __future__ import annotations

from django.db import connection

from config.wsgi import application as django_application


def application(environ, start_response):
    count = 0

    def counted(execute, sql, params, many, context):
        nonlocal count
        count += 1
        return execute(sql, params, many, context)

    def start_with_count(status, headers, exc_info=None):
        # Django calls start_response once the view and the middleware are done: the count is complete.
        return start_response(status, [*headers, ("X-SQL-Queries", str(count))], exc_info)

    # `connection` is this thread's: gunicorn's threads each count their own requests.
    with connection.execute_wrapper(counted):
        return django_application(environ, start_with_count)
