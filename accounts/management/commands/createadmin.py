"""Create an administrator with a generated password, printed once. No default credentials."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create a superuser with a generated password that is printed once."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--email", default="")
        parser.add_argument("--if-none", action="store_true",
                            help="Do nothing when any superuser exists already.")
        parser.add_argument("--reset", action="store_true",
                            help="Give an existing user a new generated password.")

    def handle(self, *args, username, email, if_none, reset, **options):
        User = get_user_model()
        if if_none and User.objects.filter(is_superuser=True).exists():
            self.stdout.write("An administrator exists already; no new credentials were created.")
            return
        password = secrets.token_urlsafe(15)
        user = User.objects.filter(username=username).first()
        if user is not None and not reset:
            raise CommandError(f"User {username!r} exists. Use --reset to give it a new password.")
        if user is None:
            user = User.objects.create_superuser(username=username, email=email, password=password)
        else:
            user.set_password(password)
            user.is_staff = user.is_superuser = user.is_active = True
            user.save()
        bar = "=" * 64
        self.stdout.write(
            f"\n{bar}\n  Rubricate administrator (shown once, not stored in clear)\n"
            f"    username: {user.get_username()}\n    password: {password}\n{bar}\n"
        )
