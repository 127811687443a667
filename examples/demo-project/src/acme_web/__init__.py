"""acme-web: a tiny Flask application, the subject of the attest demo."""

from flask import Flask

app = Flask(__name__)


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
