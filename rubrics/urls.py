from django.urls import path  # noqa: F401

app_name = "rubrics"

# Pages of this app are added by its issue; the prefix is wired in config/urls.py.
urlpatterns: list = []
