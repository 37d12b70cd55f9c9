"""viz.explore in a real browser: headless Chromium driven by selenium clicks, hovers and slides.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them) and
selenium (in the ``[dev]`` extra); skipped with the reason when one is missing.
Every test compares what the page shows with numbers computed here in Python.
"""

import json
import shutil
import tempfile

import numpy as np
import pytest

import tinygrad_seq as tg
import viz
from viz import examples

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                       reason="no headless browser: apt-get install chromium chromium-driver (.ci/run does)"),
    pytest.mark.skipif(viz.find_renderer() is None, reason="no Graphviz renderer (pip install graphviz-pure)"),
]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,900"]


@pytest.fixture(scope="module")
def browser():
    profile = tempfile.mkdtemp(prefix="tgs-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def open_page(driver, path):
    driver.get(path.resolve().as_uri())
    driver.execute_script("return document.readyState")
    assert driver.execute_script("return !!window.tgsExplorer"), "the explorer's script did not start"
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


@pytest.fixture(scope="module")
def rnn(tmp_path_factory):
    """The lecture's RNN over 4 steps, its page, and the gradients computed independently."""
    L, model, hs = examples.vanilla_rnn(4)
    path = viz.explore(L, tmp_path_factory.mktemp("explore") / "rnn.html").path
    grads = tg.grad(L, hs, retain_graph=True)
    return {"L": L, "hs": hs, "grads": grads, "path": path}


def node_id(driver, title):
    return driver.execute_script(
        "return Object.entries(window.tgsExplorer.data.nodes).find(([id, n]) => n.title === arguments[0])[0]", title)


def hover(driver, title):
    node = driver.find_element(By.CSS_SELECTOR, f'g.node[data-node="{node_id(driver, title)}"]')
    ActionChains(driver).move_to_element(node).perform()


def classed(driver, css):
    """Node ids of the graph's nodes matching ``css`` (e.g. '.tgs-reached')."""
    script = f"return [...document.querySelectorAll('g.node{css}[data-node]')].map(g => g.dataset.node)"
    return set(driver.execute_script(script))


def visible(driver):
    return set(driver.execute_script("return window.tgsExplorer.visibleNodeIds()"))


def test_the_page_makes_no_network_request(browser, rnn):
    browser.get_log("performance")  # drop what earlier pages logged
    open_page(browser, rnn["path"])
    requested = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requested.append(message["params"]["request"]["url"])
    page = rnn["path"].resolve().as_uri()
    assert page in requested, "the performance log did not record the page itself"
    others = [u for u in requested if u != page and not u.startswith(("data:", "about:"))]
    assert not others, f"the page fetched {others}"
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert all(u.startswith("data:") for u in resources), resources


def test_clicking_a_frame_collapses_its_step_and_the_box_expands_it(browser, rnn):
    open_page(browser, rnn["path"])
    data = browser.execute_script("return window.tgsExplorer.data")
    before = visible(browser)
    members = set(data["scopes"]["VanillaRNN/t=2"]["members"])
    assert members and members <= before
    frame = browser.find_element(By.CSS_SELECTOR, 'g.cluster[data-scope="VanillaRNN/t=2"] > text')
    assert frame.text.strip() == "t = 2"
    ActionChains(browser).click(frame).perform()
    after = visible(browser)
    assert after == (before - members) | {"box:VanillaRNN/t=2"}, "the step's nodes became one box"
    assert len(after) == len(before) - len(members) + 1
    hidden = [n for n in browser.find_elements(By.CSS_SELECTOR, "g.node[data-node]") if n.get_attribute("data-node")
              in members]
    assert hidden and not any(n.is_displayed() for n in hidden)
    box = browser.find_element(By.CSS_SELECTOR, 'g.tgs-box[data-scope="VanillaRNN/t=2"]')
    assert "t = 2" in box.text and f"{len(members)} nodes" in box.text
    # the recurrent edges now run into and out of the box
    assert browser.execute_script("return document.querySelectorAll('#tgs-rerouted path.tgs-cross').length") == 2
    ActionChains(browser).click(box).perform()
    assert visible(browser) == before, "clicking the box expands the step again"
    # a layer (the whole model) collapses too, and the breadcrumb in the panel collapses a scope by name
    browser.find_element(By.CSS_SELECTOR, 'g.cluster[data-scope="VanillaRNN"] > text').click()
    assert visible(browser) == (before - set(data["scopes"]["VanillaRNN"]["members"])) | {"box:VanillaRNN"}
    browser.find_element(By.ID, "tgs-expand-all").click()
    assert visible(browser) == before


def read_stats(driver, section):
    cells = driver.find_elements(By.CSS_SELECTOR, f"#{section} td[data-stat]")
    return {c.get_attribute("data-stat"): float(c.text) for c in cells}


def test_hovering_a_node_shows_its_value_gradient_and_rule(browser, rnn):
    open_page(browser, rnn["path"])
    for t in (1, 3):
        h, g = rnn["hs"][t - 1].data.astype(float), rnn["grads"][t - 1].data.astype(float)
        hover(browser, f"h({t})")
        assert browser.find_element(By.ID, "tgs-info-title").text == f"h({t})"
        assert browser.find_element(By.ID, "tgs-info-op").text == "tanh"
        assert browser.find_element(By.ID, "tgs-info-shape").text.startswith("5×1")
        assert f"t = {t}" in browser.find_element(By.ID, "tgs-info-scope").text
        value, grad = read_stats(browser, "tgs-value"), read_stats(browser, "tgs-grad")
        for name, want in (("mean", h.mean()), ("min", h.min()), ("max", h.max()), ("norm", np.linalg.norm(h))):
            assert value[name] == pytest.approx(want, rel=1e-3, abs=1e-6), name
        for name, want in (("norm", np.linalg.norm(g)), ("mean", g.mean()), ("max", g.max())):
            assert grad[name] == pytest.approx(want, rel=1e-3, abs=1e-6), f"gradient {name}"
        shown = browser.find_element(By.CSS_SELECTOR, "#tgs-value .tgs-head").text
        assert [float(v) for v in shown.split(":")[1].split(",")] == pytest.approx(h.reshape(-1), rel=1e-3, abs=1e-6)
        assert browser.find_element(By.CSS_SELECTOR, "#tgs-value canvas.tgs-heat").is_displayed()
        rule = browser.find_element(By.ID, "tgs-rule").text
        assert "tinygrad_seq.ops.Tanh" in rule and "dz/dx = 1 - z²" in rule and "g * (1 - z * z)" in rule
    # an input has no gradient, and says why
    hover(browser, "x(2)")
    assert "needs no gradient" in browser.find_element(By.ID, "tgs-grad").text


def test_the_backward_slider_at_step_k_lights_exactly_the_steps_from_k(browser, rnn):
    open_page(browser, rnn["path"])
    data = browser.execute_script("return window.tgsExplorer.data")
    step_nodes = {nid: n["step"][1] for nid, n in data["nodes"].items() if n["step"]}
    assert not browser.find_elements(By.CSS_SELECTOR, "g.node.tgs-reached"), "the forward view lights nothing"
    slider = browser.find_element(By.ID, "tgs-slider")
    assert slider.get_attribute("max") == "4"
    browser.find_element(By.ID, "tgs-bw-first").click()  # at the loss: no step yet
    for position, k in enumerate([None, 4, 3, 2, 1]):
        if position:
            browser.find_element(By.ID, "tgs-bw-next").click()
        assert slider.get_attribute("value") == str(position)
        want = {nid for nid, t in step_nodes.items() if k is not None and t >= k}
        assert classed(browser, ".tgs-reached") & set(step_nodes) == want, f"slider at {position} (t = {k})"
        assert classed(browser, ".tgs-pending") & set(step_nodes) == set(step_nodes) - want
        bars = browser.find_elements(By.CSS_SELECTOR, "rect.tgs-bar-lit")
        assert sorted(int(b.get_attribute("data-t")) for b in bars) == ([] if k is None else list(range(k, 5)))
        if k is not None:
            assert f"t = {k}" in browser.find_element(By.ID, "tgs-bw-label").text
    # W is summed over the steps: partial until the last step is through, then complete
    w = f'g.node[data-node="{node_id(browser, "W")}"]'
    assert "tgs-reached" in browser.find_element(By.CSS_SELECTOR, w).get_attribute("class")
    browser.execute_script("window.tgsExplorer.setPosition(2)")
    assert "tgs-partial" in browser.find_element(By.CSS_SELECTOR, w).get_attribute("class")
    # edges light only where a gradient flows: none into x(t), which needs none
    x_edges = browser.execute_script(
        "const ids = Object.entries(window.tgsExplorer.data.nodes).filter(([, n]) => n.kind === 'input')"
        ".map(([id]) => id); return [...document.querySelectorAll('g.edge.tgs-lit > title')]"
        ".filter(t => ids.some(id => t.textContent.startsWith(window.tgsExplorer.data.nodes[id].title + ' →'))).length")
    assert x_edges == 0
    browser.find_element(By.ID, "tgs-bw-off").click()
    assert not browser.find_elements(By.CSS_SELECTOR, "g.node.tgs-reached")


def test_truncated_bptt_shows_where_the_gradient_stops(browser, tmp_path):
    L, model, hs = examples.vanilla_rnn(3)
    _, _, h_last = model(np.random.default_rng(1).standard_normal((3, 3)), [0, 1, 2])
    h_cut = h_last.detach()
    L2, _, _ = model(np.random.default_rng(2).standard_normal((3, 3)), [1, 0, 2], h0=h_cut)
    page = viz.explore(L2, tmp_path / "tbptt.html", detached=[h_cut])
    open_page(browser, page.path)
    (cut,) = page.data["cuts"]
    node = browser.find_element(By.CSS_SELECTOR, f'g.node[data-node="{cut["node"]}"]')
    assert "tgs-cut" in node.get_attribute("class")
    badge = browser.find_element(By.CSS_SELECTOR, "#tgs-badges text")
    assert "detach" in badge.text
    browser.find_element(By.ID, "tgs-bw-last").click()
    assert "the gradient stops here" in browser.find_element(By.CSS_SELECTOR, "#tgs-badges text").text
    assert "no gradient flows past the detached state" in browser.find_element(By.ID, "tgs-bw-label").text
    assert browser.find_elements(By.CSS_SELECTOR, "g.edge.tgs-stopped"), "the edge out of the cut is marked stopped"
    assert browser.find_elements(By.CSS_SELECTOR, "line.tgs-bar-cut"), "the bars mark the cut"
    ActionChains(browser).move_to_element(node).perform()
    assert "detach()" in browser.find_element(By.ID, "tgs-grad").text


def test_a_100_step_lstm_page_opens_with_every_step(browser, tmp_path):
    from tinygrad_seq import nn

    tg.manual_seed(0)
    lstm, readout = nn.LSTM(4, 8), nn.Linear(8, 2)
    out, _ = lstm(tg.randn(100, 2, 4))
    page = viz.explore((readout(out) ** 2).mean(), tmp_path / "lstm100.html")
    open_page(browser, page.path)
    assert len(browser.find_elements(By.CSS_SELECTOR, "rect.tgs-bar")) == 100
    before = len(visible(browser))
    browser.find_element(By.ID, "tgs-collapse-steps").click()
    assert len(visible(browser)) < before / 5, "every step collapses to one box"
    assert len(browser.find_elements(By.CSS_SELECTOR, "g.tgs-box")) == 100
    browser.find_element(By.ID, "tgs-bw-last").click()
    assert len(browser.find_elements(By.CSS_SELECTOR, "g.tgs-box.tgs-reached")) == 100
