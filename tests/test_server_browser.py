#!/usr/bin/env python3
"""The chat page of `cllama serve` in a real browser: headless Chromium driven by
Selenium (Debian chromium, chromium-driver, python3-selenium) loads /, types a message
and sends it, and must see a streamed reply appear in the page with its tokens/s; a
screenshot goes to the test's output directory. Skipped (77) without the browser.

usage: test_server_browser.py CLLAMA OUT_DIR MODEL.gguf [FALLBACK_MODEL.gguf]
(the first model that exists is served: a real chat model reads better in the screenshot)
"""
import os, shutil, sys, time

sys.path.insert(0, os.path.dirname(__file__))
cllama, out = sys.argv[1:3]
model = next((m for m in sys.argv[3:] if os.path.exists(m)), sys.argv[3])
try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
except ImportError:
    print("skipped: python3-selenium is not installed")
    sys.exit(77)
driver_bin = shutil.which("chromedriver")
if not driver_bin or not os.path.exists(model):
    print("skipped: chromium-driver is not installed, or the model is not there")
    sys.exit(77)
from server_util import Server

os.makedirs(out, exist_ok=True)
srv = Server(cllama, model, "--parallel", "2", "-t", "2")
opts = webdriver.ChromeOptions()
for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1000,800"):
    opts.add_argument(a)
drv = webdriver.Chrome(service=Service(driver_bin), options=opts)
fails = 0


def check(cond, what):
    global fails
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        fails += 1


try:
    drv.get(srv.base + "/")
    deadline = time.time() + 20
    while time.time() < deadline and drv.find_element(By.ID, "model").text in ("", "connecting…"):
        time.sleep(0.1)
    check(drv.find_element(By.ID, "model").text == os.path.basename(model),
          f"the page shows the model: {drv.find_element(By.ID, 'model').text!r}")
    drv.find_element(By.ID, "system").send_keys("You are a helpful assistant.")
    box = drv.find_element(By.ID, "input")
    box.send_keys("Name a primary color.")
    drv.find_element(By.ID, "send").click()
    seen, stats = [], ""
    deadline = time.time() + 120
    while time.time() < deadline:
        bubbles = drv.find_elements(By.CSS_SELECTOR, ".msg.assistant span")
        if bubbles:
            t = bubbles[-1].text
            if t and (not seen or seen[-1] != t):
                seen.append(t)
        st = drv.find_elements(By.CSS_SELECTOR, ".msg.assistant .stats")
        if st and st[-1].text:
            stats = st[-1].text
            break
        time.sleep(0.05)
    drv.save_screenshot(os.path.join(out, "chat_page.png"))
    user = [e.text for e in drv.find_elements(By.CSS_SELECTOR, ".msg.user")]
    check(user == ["Name a primary color."], f"the message appears: {user}")
    check(len(seen) >= 2 and seen[-1] and all(seen[-1].startswith(x) for x in seen),
          f"the reply streamed in: {len(seen)} successive states, ending {seen[-1][:60] if seen else ''!r}")
    check("tokens/s" in stats, f"the reply's speed is shown: {stats!r}")
    print(f"screenshot: {os.path.join(out, 'chat_page.png')}")
finally:
    drv.quit()
    code = srv.stop()
check(code == 0, f"the server stopped cleanly (exit {code})")
sys.exit(1 if fails else 0)
