# One image for every node; each container gets its own data volume and config.
FROM python:3.11-slim

RUN useradd --system --home /data --uid 10001 exchange
WORKDIR /app
COPY pyproject.toml README.md ./
COPY exchange ./exchange
RUN pip install --no-cache-dir .

USER exchange
VOLUME ["/data"]
EXPOSE 8441
# The data folder holds node.toml, keys/ and exchange.db (see docker-compose.yml).
ENTRYPOINT ["exchange"]
CMD ["node", "--data", "/data"]
