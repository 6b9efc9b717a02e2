# RusTs server image.
#   docker build -t rusts .
#   docker run -p 8086:8086 -p 5432:5432 -v rusts-data:/var/lib/rusts rusts
# Own settings: mount a rusts.yml over /etc/rusts/rusts.yml (write one with
# `docker run --rm rusts --generate-config -`); keep storage.data_dir at /var/lib/rusts.
# Other commands: `docker run --rm -v ./rusts.yml:/etc/rusts/rusts.yml rusts token create --config /etc/rusts/rusts.yml`

# --- build: the rusts wheel (hot modules compiled by mypyc) and wheels of its dependencies
FROM python:3.11-slim AS builder
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY typings ./typings
COPY rusts ./rusts
RUN pip wheel --no-cache-dir . -w /wheels

# --- run: only the wheels, no compiler
FROM python:3.11-slim
COPY --from=builder /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels rusts \
    && rm -rf /wheels \
    && useradd --system --home-dir /var/lib/rusts --shell /usr/sbin/nologin rusts \
    && mkdir -p /var/lib/rusts /etc/rusts \
    && chown rusts:rusts /var/lib/rusts \
    && printf '# Every key not given here takes its default; see `rusts --generate-config -`.\nstorage:\n  data_dir: /var/lib/rusts\n' \
       > /etc/rusts/rusts.yml \
    && rusts --check-config --config /etc/rusts/rusts.yml \
    && rusts --version
VOLUME /var/lib/rusts
WORKDIR /var/lib/rusts
USER rusts
# 8086: HTTP API (InfluxDB line protocol, SQL, /metrics); 5432: PostgreSQL wire protocol
EXPOSE 8086 5432
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8086/health', timeout=4)"]
ENTRYPOINT ["rusts"]
CMD ["--config", "/etc/rusts/rusts.yml"]
