.PHONY: setup run test lint format bench worker

# Listen address for `make run`.
HOST ?= 127.0.0.1
PORT ?= 8000

setup:
	bash scripts/setup.sh

run: setup
	DJANGO_DEVELOPMENT=$${DJANGO_DEVELOPMENT:-1} .venv/bin/python manage.py print_demo_credentials --host $(HOST) --port $(PORT)
	DJANGO_DEVELOPMENT=$${DJANGO_DEVELOPMENT:-1} .venv/bin/python manage.py runserver $(HOST):$(PORT)

test:
	SKIP_DEMO=1 bash scripts/setup.sh
	bash scripts/test.sh

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format:
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

bench: setup
	DJANGO_DEVELOPMENT=1 .venv/bin/python -m bench

worker: setup
	DJANGO_DEVELOPMENT=1 .venv/bin/python manage.py procrastinate worker
