# meshgate container image. Build: docker build -t meshgate .
# Run the gateway on the host's network (it manages a TUN device, forwarding
# and its own nftables table, so it needs NET_ADMIN and /dev/net/tun):
#   docker run --rm --network host --cap-add NET_ADMIN --device /dev/net/tun \
#     -v /etc/meshgate:/etc/meshgate:ro -v meshgate-state:/var/lib/meshgate \
#     meshgate gateway --config /etc/meshgate/gateway.yaml
FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/meshgate
COPY package.json package-lock.json binding.gyp tsconfig.json tsconfig.build.json ./
COPY shared ./shared
COPY gateway ./gateway
COPY client ./client
COPY bin ./bin
RUN npm ci && npm prune --omit=dev

FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends iproute2 nftables \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/meshgate
COPY --from=build /opt/meshgate ./
ENTRYPOINT ["node", "/opt/meshgate/bin/meshgate.js"]
CMD ["help"]
