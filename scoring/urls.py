from django.urls import path  # noqa: F401

app_name = "scoring"

# Pages of this app are added by its issue; the prefix is wired in config/urls.py.
urlpatterns: list = []
