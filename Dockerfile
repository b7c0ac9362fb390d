FROM python:3.11-slim
ARG EXTRAS=""
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY config ./config
COPY accounts ./accounts
COPY annotator ./annotator
COPY rubrics ./rubrics
COPY scoring ./scoring
RUN pip install --no-cache-dir -e ".${EXTRAS:+[$EXTRAS]}"
COPY . .
RUN useradd --create-home rubricate && mkdir -p /data && chown rubricate /data
USER rubricate
EXPOSE 8000
