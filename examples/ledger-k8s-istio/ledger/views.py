import cPickle
from django.core.cache import cache
from django.http import HttpResponse, JsonResponse
from prometheus_client import Counter

REQUESTS = Counter("ledger_requests_total", "Requests", ["view"])

def health(request):
    return HttpResponse("ok")

def entry(request, pk):
    REQUESTS.labels("entry").inc()
    blob = cache.get("entry:%s" % pk)
    if blob is None:
        blob = cPickle.dumps({"id": int(pk), "total": round(2.5)})
        cache.set("entry:%s" % pk, blob)
    return JsonResponse(cPickle.loads(blob))
