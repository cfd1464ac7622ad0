"Fixtures that start real services: a moto S3 server on 127.0.0.1, and one storage test body for both backends."
import uuid, pytest
from dronemlops.config import load_settings
from dronemlops.storage import LocalStorage, S3Storage
from dronemlops.sample import sample_files
from dronemlops.testing import moto_server, fake_aws_env

@pytest.fixture(scope="session")
def moto_url():
    with moto_server() as url: yield url

@pytest.fixture
def aws_env(moto_url, monkeypatch):
    "Point boto3 at the moto server with throw-away credentials; returns the environment it set."
    env = fake_aws_env(moto_url)
    for k, v in env.items(): monkeypatch.setenv(k, v)
    return env

@pytest.fixture
def s3_settings(aws_env, tmp_path):
    return load_settings(env={}, cwd=tmp_path, aws_endpoint_url=aws_env["AWS_ENDPOINT_URL"], local_dir=str(tmp_path/"local"))

@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    "The same tests run against a local folder and an S3 bucket on a real moto server."
    if request.param == "local": return LocalStorage(tmp_path/"ws")
    s = request.getfixturevalue("s3_settings")
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    st = S3Storage(f"s3://{bucket}/ws", s)
    st.client.create_bucket(Bucket=bucket)
    return st

@pytest.fixture(scope="session")
def frames():
    "The bundled real aerial sample files {name: path}."
    return sample_files()

@pytest.fixture
def src(tmp_path, frames):
    "A local folder holding real sample frames and labels, with a nested folder."
    d = tmp_path/"src"; (d/"labels").mkdir(parents=True)
    for n in ["OSBS_029.png", "SOAP_061.png"]: (d/n).write_bytes(frames[n].read_bytes())
    for n in ["OSBS_029.xml", "SOAP_061.xml"]: (d/"labels"/n).write_bytes(frames[n].read_bytes())
    return d
