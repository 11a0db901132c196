from setuptools import setup

setup(name="billing", install_requires=["pyramid", "waitress", "celery<4"])
