from django.urls import path

from . import views

# The namespace and paths predate the accounts app (/account/tokens/); they stay as they are.
app_name = "account"
urlpatterns = [
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:token_id>/revoke/", views.token_revoke, name="token_revoke"),
    path("invite/<str:secret>/", views.invite_accept, name="invite_accept"),
    path("users/", views.users, name="users"),
    path("users/<int:user_id>/invite/", views.user_invite_link, name="user_invite_link"),
    path("users/<int:user_id>/active/", views.user_active, name="user_active"),
    path("users/<int:user_id>/site-admin/", views.user_site_admin, name="user_site_admin"),
]
