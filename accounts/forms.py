"""Forms of the accounts pages: parse input; the services check it and do the work."""

from django import forms


class UserInviteForm(forms.Form):
    """A site admin invites someone: the account is created when the form is sent."""

    username = forms.CharField(max_length=150, help_text="What they log in with. Letters, digits and @ . + - _")
    email = forms.EmailField(required=False, help_text="Optional: the link is emailed there too.")
    site_admin = forms.BooleanField(required=False, label="Site admin",
                                    help_text="Manages rubric sets, scorers, projects and users.")
