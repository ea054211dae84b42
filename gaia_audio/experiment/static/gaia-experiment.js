/* gaia-audio's experiment runner: builds the jsPsych timeline from window.GAIA_EXPERIMENT (written
 * into the page by gaia_audio/experiment/page.py) and saves one CSV row per trial at the end.
 * HTML5 audio (use_webaudio: false): jsPsych's WebAudio loads sounds by XHR, which file:// refuses. */
(function () {
  "use strict";
  const C = window.GAIA_EXPERIMENT;
  const results = [];
  const state = { participant: "", session: new Date().toISOString(), headphone: "skipped" };

  const jsPsych = initJsPsych({ use_webaudio: false, show_progress_bar: true, on_finish: finish });
  window.gaiaExperiment = { jsPsych: jsPsych, results: results, state: state };

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }

  function csvCell(value) {
    const text = value === undefined || value === null ? "" : String(value);
    return /[",\n\r]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  function toCsv() {
    const lines = [C.columns.join(",")];
    for (const row of results) lines.push(C.columns.map(c => csvCell(row[c])).join(","));
    return lines.join("\r\n") + "\r\n";
  }

  function fileName() {
    const who = (state.participant || "unnamed").replace(/[^A-Za-z0-9._-]+/g, "_");
    return "responses_" + C.design + "_" + who + "_" + state.session.replace(/[:.]/g, "-") + ".csv";
  }

  function finish() {
    const text = toCsv();
    window.gaiaResults = text;
    window.gaiaResultsName = fileName();
    const target = jsPsych.getDisplayElement();
    let saved = false;
    try {
      const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
      const a = document.createElement("a");
      a.href = url;
      a.download = window.gaiaResultsName;
      document.body.appendChild(a);
      a.click();
      saved = true;
    } catch (err) {
      saved = false;
    }
    target.innerHTML = "<h2>Thank you, the session is over.</h2>" +
      (saved ? "<p>The responses were saved as <b>" + escapeHtml(window.gaiaResultsName) +
               "</b> in the browser's download folder.</p>"
             : "<p><b>The responses could not be saved as a file.</b> Copy the text below into a file named " +
               escapeHtml(window.gaiaResultsName) + ".</p>") +
      "<details" + (saved ? "" : " open") + "><summary>responses (CSV)</summary>" +
      '<textarea id="gaia-results" readonly rows="12" cols="90">' + escapeHtml(text) + "</textarea></details>";
    document.body.dataset.gaiaDone = "1";
  }

  function audioTrial(play, choices, prompt, extra) {
    return Object.assign({
      type: jsPsychAudioButtonResponse, stimulus: play, choices: choices, prompt: "<p>" + escapeHtml(prompt) + "</p>",
      response_allowed_while_playing: false, trial_ends_after_audio: false,
    }, extra || {});
  }

  const timeline = [];
  timeline.push({
    type: jsPsychHtmlButtonResponse, choices: ["Start"],
    stimulus: "<h1>" + escapeHtml(C.title) + "</h1><p>Click Start to begin (the browser plays sound only after a click).</p>",
  });
  timeline.push({
    type: jsPsychSurveyText, button_label: "Continue",
    questions: [{ prompt: "Participant ID", name: "participant", required: true }],
    on_finish: data => { state.participant = String(data.response.participant || "").trim(); },
  });
  timeline.push({ type: jsPsychHtmlButtonResponse, stimulus: C.instructions, choices: ["Continue"] });

  if (C.headphone.length) {
    let right = 0;
    timeline.push({
      type: jsPsychHtmlButtonResponse, choices: ["Continue"],
      stimulus: "<p>Headphone check: you will hear three tones, " + C.headphone.length + " times. " +
                "Say which tone was the quietest (1, 2 or 3).</p>",
    });
    for (const check of C.headphone) {
      timeline.push(audioTrial(check.play, ["1", "2", "3"], "Which tone was the quietest?", {
        on_finish: data => { if (String(data.response + 1) === check.answer) right += 1; },
      }));
    }
    timeline.push({
      type: jsPsychHtmlButtonResponse, choices: ["Continue"],
      stimulus: () => {
        state.headphone = (right >= C.headphone_pass ? "passed " : "failed ") + right + "/" + C.headphone.length;
        return "<p>Headphone check: " + right + " of " + C.headphone.length + " right.</p>";
      },
    });
  }

  if (C.practice.length) {
    timeline.push({ type: jsPsychHtmlButtonResponse, choices: ["Continue"],
                    stimulus: "<p>First, " + C.practice.length + " practice trials on the two ends, with feedback.</p>" });
    for (const p of C.practice) {
      let answer = null;
      timeline.push(audioTrial(p.play, p.choices, C.prompt, {
        data: { gaia_phase: "practice" }, on_finish: data => { answer = p.choices[data.response]; },
      }));
      timeline.push({
        type: jsPsychHtmlButtonResponse, choices: ["Continue"],
        stimulus: () => "<p>" + (answer === p.answer ? "Right" : "Not quite") + ": the answer was <b>" +
                        escapeHtml(p.answer) + "</b>.</p>",
      });
    }
    timeline.push({ type: jsPsychHtmlButtonResponse, choices: ["Begin"],
                    stimulus: "<p>Now the experiment: no more feedback.</p>" });
  }

  for (const t of C.trials) {
    timeline.push(audioTrial(t.play, t.choices, C.prompt, {
      data: { gaia_phase: "trial", gaia_trial: t.trial },
      on_finish: data => {
        const label = t.choices[data.response];
        const identification = C.design === "identification";
        results.push({
          participant: state.participant, session: state.session, design: C.design, trial: t.trial,
          block: t.block, pair: t.pair, step: t.step, alpha: t.alpha, files: t.files,
          response: identification ? data.response : label, response_label: label,
          correct: identification ? "" : (label === t.correct ? 1 : 0),
          rt: data.rt === null ? "" : Math.round(data.rt), timestamp: new Date().toISOString(),
          headphone_check: state.headphone,
        });
      },
    }));
  }
  jsPsych.run(timeline);
})();
