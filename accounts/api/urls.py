from django.urls import path

from . import views

urlpatterns = [
    path("me/", views.MeApi.as_view(), name="api-me"),
    path("tokens/", views.TokenListApi.as_view(), name="api-token-list"),
    path("tokens/<int:token_id>/", views.TokenRevokeApi.as_view(), name="api-token-revoke"),
]
