from django.urls import path

from . import views

# The namespace and paths predate the accounts app (/account/tokens/); they stay as they are.
app_name = "account"
urlpatterns = [
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:token_id>/revoke/", views.token_revoke, name="token_revoke"),
]
