import pickle
from flask import Flask, session
from flask_caching import Cache

app = Flask(__name__)
cache = Cache(app, config={"CACHE_TYPE": "redis"})

@app.route("/health")
def health():
    return "ok"

@app.route("/cart")
def cart():
    items = pickle.loads(cache.get("cart") or pickle.dumps([]))
    return str(sorted(items))
