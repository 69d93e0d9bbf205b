#!/bin/sh
# Runs the city simulation at growing sizes and writes one JSON report per
# size under docs/simulation/, then redraws the plots (docs/simulation.md).
#
#   scripts/city-scale.sh [SIZE ...]        default: 10000 30000 100000 300000 1000000
#
# DAYS, OBSERVERS and SEED override the defaults below; every other figure
# is pact-bridge simulate's default.
set -eu
cd "$(dirname "$0")/.."
DAYS=${DAYS:-3}
OBSERVERS=${OBSERVERS:-2000}
SEED=${SEED:-1}
sizes=${*:-10000 30000 100000 300000 1000000}
go build -o /tmp/pact-bridge-city ./cmd/pact-bridge
for n in $sizes; do
	# Each observer matches every upload of the run, so the work grows
	# with observers x population: fewer observers at the largest sizes
	# keep a run within about half an hour on two cores
	# (docs/simulation.md, "Streaming and sampling").
	obs=$OBSERVERS
	[ "$n" -ge 100000 ] && obs=$((OBSERVERS / 2))
	[ "$n" -ge 300000 ] && obs=$((OBSERVERS / 4))
	[ "$n" -ge 1000000 ] && obs=$((OBSERVERS / 10))
	echo "city of $n devices, $DAYS days, $obs observers" >&2
	/tmp/pact-bridge-city simulate --devices "$n" --days "$DAYS" --seed "$SEED" --observers "$obs" --json \
		>"docs/simulation/city-$n.json.tmp"
	mv "docs/simulation/city-$n.json.tmp" "docs/simulation/city-$n.json"
done
go run ./internal/sim/cityplot -in docs/simulation -out docs/simulation
