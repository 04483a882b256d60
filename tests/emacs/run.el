;;; run.el --- one metaai-ls scenario in a real Emacs (eglot or lsp-mode) -*- lexical-binding: t -*-
;; emacs --batch -Q -l run.el CASE CONFIG FILE EXPECTED RESULT
;; CONFIG: the editors/README.md snippet to load (or metaai.el's); FILE: the
;; Python file to open; EXPECTED: the file's text once the answer has landed;
;; RESULT: where to write what happened (JSON).  The server is `metaai-ls' on
;; PATH, pointed at the fake through the environment.
(dolist (dir (file-expand-wildcards "/usr/share/emacs/site-lisp/elpa/*"))
  (add-to-list 'load-path dir))
;; As package.el activates them in a user's Emacs (-Q does not).
(dolist (autoloads (file-expand-wildcards "/usr/share/emacs/site-lisp/elpa/*/*-autoloads.el"))
  (load autoloads nil t))
(require 'json)
(require 'subr-x)

(defvar t-case (nth 0 command-line-args-left))
(defvar t-config (nth 1 command-line-args-left))
(defvar t-file (nth 2 command-line-args-left))
(defvar t-expected (with-temp-buffer
                     (insert-file-contents (nth 3 command-line-args-left))
                     (buffer-string)))
(defvar t-result-file (nth 4 command-line-args-left))
(setq command-line-args-left nil)
(defvar t-result nil "An alist written to RESULT at the end.")
(defvar t-messages nil)
(defvar t-buffer nil)
(defvar t-original nil)

(defun t-put (key value) (push (cons key value) t-result))

(advice-add 'message :around
            (lambda (fn format &rest args)
              (when format (push (apply #'format-message format args) t-messages))
              (apply fn format args)))

(defvar t-idle-since (float-time) "When the user last did something.")
(defvar t-idle-ran nil "The repeating idle timers run since then.")

(defun t-user-acts ()
  (setq t-idle-since (float-time) t-idle-ran nil))

(defun t-run-idle-timers ()
  "Run the idle timers a user's Emacs runs now: in --batch Emacs is never idle
\(it never waits for input), but a user's is while Meta AI writes, and eglot
reports changes (didChange) from an idle timer."
  (let ((idle (- (float-time) t-idle-since)))
    (dolist (timer (copy-sequence timer-idle-list))
      (when (and (>= idle (float-time (timer--time timer))) (not (memq timer t-idle-ran)))
        (when (timer--repeat-delay timer) (push timer t-idle-ran))
        (timer-event-handler timer)))))

(defun t-wait (predicate seconds)
  "Let Emacs run (process output, timers, idle timers) until PREDICATE or SECONDS."
  (let ((deadline (+ (float-time) seconds)))
    (while (and (not (funcall predicate)) (< (float-time) deadline))
      (accept-process-output nil 0.05)
      (t-run-idle-timers))
    (funcall predicate)))

(defun t-text () (with-current-buffer t-buffer (buffer-string)))

(defun t-finish ()
  (t-put 'text (t-text))
  (t-put 'messages (vconcat (reverse t-messages)))
  (t-put 'stderr (mapconcat (lambda (b) (with-current-buffer b (buffer-string)))
                            (seq-filter (lambda (b) (string-match-p "stderr\\*\\'" (buffer-name b)))
                                        (buffer-list))
                            "\n"))
  (with-temp-file t-result-file (insert (json-encode t-result)))
  (kill-emacs 0))

(defun t-select-lines (first last)
  "Select lines FIRST to LAST (1-based, whole lines) as a user would."
  (t-user-acts)
  (transient-mark-mode 1)
  (goto-char (point-min))
  (forward-line (1- first))
  (push-mark (point) t t)
  (forward-line (1+ (- last first))))

(defun t-undo-steps ()
  "How many undo steps take the buffer back to the original text, counted as
`undo' counts them: the command loop puts a boundary before every command and
`undo' drops it first, so whether a timer had put one there does not matter."
  (t-user-acts)
  (with-current-buffer t-buffer
    (let ((steps 0))
      (undo-boundary)
      (undo-start)
      (undo-more 1)
      (while (and (not (equal (buffer-string) t-original)) pending-undo-list (< steps 50))
        (undo-more 1)
        (cl-incf steps))
      (if (equal (buffer-string) t-original) steps -1))))

(defun t-landed () (equal (t-text) t-expected))

(defun t-landed-and-settled (seconds)
  "Wait for the answer, then a second more: nothing may change after it."
  (t-put 'landed (t-wait #'t-landed seconds))
  (t-wait (lambda () nil) 1)
  (t-put 'settled (t-landed))
  (t-put 'answered (t-text)))

(defun t-open ()
  (find-file t-file)
  (python-mode)
  (setq t-buffer (current-buffer) t-original (buffer-string)))

;;; eglot (the README's snippet), optionally with metaai.el

(defun t-eglot-start ()
  (require 'eglot)
  (load t-config nil t)
  (t-open)
  (apply #'eglot (eglot--guess-contact))  ; eglot-ensure never connects in --batch
  (unless (t-wait (lambda () (and (eglot-current-server)
                                  (eglot--server-capable :executeCommandProvider)))
                  30)
    (error "eglot did not connect")))

(defun t-eglot-code-action (title)
  "Run the code action TITLE on lines 2-3 as eglot runs it (its command)."
  (t-select-lines 2 3)
  (let* ((actions (eglot-code-actions (region-beginning) (region-end)))
         (action (seq-find (lambda (a) (equal (plist-get a :title) title)) actions))
         (command (plist-get action :command)))
    (t-put 'title (plist-get action :title))
    (condition-case error
        (eglot-execute-command (eglot-current-server) (plist-get command :command)
                               (plist-get command :arguments))
      (error (t-put 'error (error-message-string error))))))

;;; lsp-mode (the README's snippet)

(defvar t-progress nil "What lsp-mode's mode line showed after each $/progress.")

(defun t-lsp-start ()
  (require 'lsp-mode)
  (setq lsp-client-packages nil          ; no other client may ask to install itself
        lsp-session-file (expand-file-name "lsp-session" temporary-file-directory)
        lsp-auto-guess-root t lsp-enable-file-watchers nil lsp-keep-workspace-alive nil
        lsp-restart 'ignore lsp-headerline-breadcrumb-enable nil lsp-enable-snippet nil)
  (load t-config nil t)
  (let ((show lsp-progress-function))
    (setq lsp-progress-function
          (lambda (workspace params)
            (funcall show workspace params)
            (with-current-buffer t-buffer
              (push (or (lsp--progress-status) "") t-progress)))))
  (t-open)
  (lsp)
  (unless (t-wait (lambda () (and (lsp-workspaces)
                                  (eq (lsp--workspace-status (car (lsp-workspaces)))
                                      'initialized)))
                  30)
    (error "lsp-mode did not connect")))

(defun t-lsp-code-action (title)
  (t-select-lines 2 3)
  (let ((action (seq-find (lambda (a) (equal (lsp:code-action-title a) title))
                          (lsp-code-actions-at-point))))
    (t-put 'title (and action (lsp:code-action-title action)))
    (condition-case error
        (lsp-execute-code-action action)
      (error (t-put 'error (error-message-string error))))))

;;; the cases

(defun t-case-eglot-long ()
  (t-eglot-start)
  (t-eglot-code-action "Meta AI: Refactor / Improve")
  (t-landed-and-settled 60)
  (t-put 'undo_steps (t-undo-steps)))
(defun t-lens-titles ()
  (with-current-buffer t-buffer
    (mapconcat (lambda (ov) (substring-no-properties (or (overlay-get ov 'lsp-original) "")))
               lsp-lens--overlays "")))

(defun t-case-lsp-long ()
  (t-lsp-start)
  (t-lsp-code-action "Meta AI: Refactor / Improve")
  (t-landed-and-settled 60)
  (t-wait (lambda () (string-match-p "Discard" (t-lens-titles))) 10)
  (t-put 'lenses (t-lens-titles))
  (t-put 'progress (vconcat (reverse t-progress)))
  (t-put 'undo_steps (t-undo-steps)))

(defun t-changed () (not (equal (t-text) t-original)))

(defun t-code-action-cancelled (start code-action cancel)
  "START, run the Refactor code action, CANCEL once some of it was written."
  (funcall start)
  (funcall code-action "Meta AI: Refactor / Improve")
  (t-put 'streamed (t-wait #'t-changed 20))
  (t-user-acts)
  (with-current-buffer t-buffer (funcall cancel))
  (t-put 'restored (t-wait (lambda () (not (t-changed))) 10)))

(defun t-case-eglot-cancel ()
  (t-code-action-cancelled #'t-eglot-start #'t-eglot-code-action #'metaai-cancel))

(defun t-case-lsp-cancel ()
  (t-code-action-cancelled #'t-lsp-start #'t-lsp-code-action #'metaai-lsp-cancel))

(defun t-has (text) (lambda () (string-match-p (regexp-quote text) (t-text))))

(defun t-case-metaai-el ()
  "M-x metaai-ask, undo, metaai-discard, metaai-retry, metaai-keep,
metaai-doctor, metaai-learn, as a user runs them."
  (t-eglot-start)
  (with-current-buffer t-buffer
    (t-select-lines 2 3)
    (metaai-ask "make it clearer" "replace")
    (t-landed-and-settled 30)
    (t-put 'undo_steps (t-undo-steps))  ; one `undo' takes it back
    (t-wait (lambda () nil) 1)          ; the undo reaches the server
    ;; Asked again, then discarded: the original text back in one step.
    (t-select-lines 2 3)
    (metaai-ask "make it clearer" "replace")
    (t-put 'second (t-wait (t-has "return x * 2") 30))
    (t-wait (lambda () nil) 1)
    (t-user-acts)
    (metaai-discard)
    (t-put 'discarded (t-wait (lambda () (not (t-changed))) 10))
    ;; Asked, retried (the fake's next answer), kept.
    (t-select-lines 2 3)
    (metaai-ask "make it clearer" "replace")
    (t-put 'third (t-wait (t-has "return x + x\n") 30))
    (t-wait (lambda () nil) 1)
    (t-user-acts)
    (metaai-retry)
    (t-put 'retried (t-wait (t-has "return x << 1") 30))
    (t-wait (lambda () nil) 1)
    (t-user-acts)
    (metaai-keep)
    (t-wait (lambda () nil) 1)
    (metaai-doctor)
    (t-put 'doctor (and (t-wait (lambda () (get-buffer "*metaai doctor*")) 30)
                        (with-current-buffer "*metaai doctor*" (buffer-string))))
    (metaai-learn (expand-file-name "missing.har" temporary-file-directory))
    (t-wait (lambda () (or (get-buffer "*metaai learn*")
                           (seq-find (lambda (m) (string-match-p "learn" m)) t-messages)))
            30)
    (t-put 'learn (and (get-buffer "*metaai learn*")
                       (with-current-buffer "*metaai learn*" (buffer-string))))))

(condition-case error
    (funcall (intern (concat "t-case-" t-case)))
  (error (t-put 'failure (error-message-string error))))
(t-finish)
