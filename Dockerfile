# golive in a container: `docker build -t golive .` is the only step.
#
#   docker run -p 1935:1935 -p 8080:8080 -v golive-data:/var/lib/golive golive
#
# Stage 1 builds the web player with npm; stage 2 installs golive and its dependencies into a
# virtualenv; the last stage copies that virtualenv into a slim image and runs as a non-root
# user. ffmpeg comes inside the imageio-ffmpeg wheel, so no system packages are needed.

FROM node:22-bookworm-slim AS web
WORKDIR /build/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY web/ ./
# build.mjs writes into ../src/golive/web/static/dist
RUN mkdir -p ../src/golive/web/static && npm run --silent build

FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/golive
WORKDIR /build
COPY pyproject.toml README.md ./
COPY src/ src/
COPY --from=web /build/src/golive/web/static/dist/ src/golive/web/static/dist/
RUN /opt/golive/bin/pip install --upgrade pip && /opt/golive/bin/pip install .

FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 golive \
    && useradd --system --uid 10001 --gid golive --home-dir /var/lib/golive --shell /usr/sbin/nologin golive \
    && mkdir -p /var/lib/golive \
    && chown golive:golive /var/lib/golive
COPY --from=build /opt/golive /opt/golive
ENV PATH=/opt/golive/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    GOLIVE_HOST=0.0.0.0 \
    GOLIVE_DATA_DIR=/var/lib/golive
USER golive
WORKDIR /var/lib/golive
VOLUME ["/var/lib/golive"]
# RTMP, RTMPS (when a certificate is configured), HTTP
EXPOSE 1935 1936 8080
# SIGTERM is a graceful shutdown within shutdown_timeout (10 s by default): give it time
# (docker stop -t 15, or stop_grace_period in compose).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=2)"]
ENTRYPOINT ["golive"]
CMD ["serve"]
