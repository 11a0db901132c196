import os
from django.conf import global_settings

SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
ROOT_URLCONF = "ledger.urls"
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.memcached.MemcachedCache",
        "LOCATION": "memcached.payments:11211",
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.cache"
