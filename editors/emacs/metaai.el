;;; metaai.el --- Meta AI through metaai-ls and eglot -*- lexical-binding: t -*-

;; Version: 0.2.0
;; Package-Requires: ((emacs "28.1") (eglot "1.9"))
;; Keywords: tools, convenience
;; URL: https://github.com/metaai-ls/metaai-ls

;;; Commentary:

;; metaai-ls as an eglot server, with what plain eglot lacks for it:
;;
;;   (require 'metaai)
;;   (setq metaai-settings '(:cookiesFile "~/.config/metaai/cookies.json"))
;;   (metaai-setup '(python-mode js-mode))   ; the major modes it serves
;;
;; then M-x eglot in such a buffer, and
;;
;;   M-x metaai-ask       ask about the region (or the line): replace,
;;                        insert or chat (C-u asks which)
;;   M-x metaai-keep      keep the latest answer written into the buffer
;;   M-x metaai-discard   put the original text back in one step
;;   M-x metaai-retry     ask again with the same prompt
;;   M-x metaai-cancel    stop the answers being written
;;   M-x metaai-doctor    check the setup step by step
;;   M-x metaai-learn     learn Meta's current web client from a HAR
;;
;; The answer's progress shows in the echo area; its edits apply without
;; eglot's confirmation prompt (they are the answer you asked for) and one
;; `undo' takes the whole answer back.  No request waits in the foreground,
;; so an answer may take minutes.
;;
;; Checked with eglot 1.9 (Debian's elpa-eglot) on Emacs 28.2; it uses
;; eglot's `eglot--pos-to-lsp-position', `eglot--path-to-uri',
;; `eglot--uri-to-path' and `eglot--signal-textDocument/didChange'.

;;; Code:

(require 'cl-lib)
(require 'eglot)
(require 'jsonrpc)

(defgroup metaai nil
  "Meta AI through the metaai-ls language server."
  :group 'tools
  :prefix "metaai-")

(defcustom metaai-command '("metaai-ls" "--stdio")
  "The command that starts the server: a program and its arguments."
  :type '(repeat string))

(defcustom metaai-settings nil
  "The server's `metaai' settings, a plist.
For example (:cookiesFile \"~/.config/metaai/cookies.json\")."
  :type 'plist)

(defcustom metaai-default-mode "replace"
  "What `metaai-ask' does with the answer unless asked (prefix argument)."
  :type '(choice (const "replace") (const "insert") (const "chat")))

(defclass metaai-server (eglot-lsp-server) ()
  :documentation "metaai-ls: progress in the echo area, one undo per answer.")

(defun metaai-contact (&optional _interactive)
  "The eglot contact that starts metaai-ls (see `eglot-server-programs')."
  `(metaai-server ,@metaai-command
                  :initializationOptions
                  (:metaai ,(or metaai-settings eglot--{}))))

;;;###autoload
(defun metaai-setup (modes)
  "Serve the major MODES (a list of symbols) with metaai-ls through eglot."
  (add-to-list 'eglot-server-programs (cons modes #'metaai-contact)))

;;; Progress and edits

(cl-defmethod eglot-client-capabilities :around ((_server metaai-server))
  "Declare `window.workDoneProgress': the answer streams as progress."
  (append (cl-call-next-method) '(:window (:workDoneProgress t))))

(cl-defmethod eglot-handle-request
  ((_server metaai-server) (_method (eql window/workDoneProgress/create))
   &key _token)
  "Accept the server's progress token."
  nil)

(defun metaai--echo (text)
  "Show TEXT on one line of the echo area, cut to fit, without logging it."
  (let* ((line (replace-regexp-in-string
                "[ \t\n\r]+" " "
                (if (string-prefix-p "Meta AI" text) text (format "Meta AI: %s" text))))
         (width (max 20 (1- (window-width (minibuffer-window)))))
         (message-log-max nil))
    (when (> (string-width line) width)
      (setq line (concat "Meta AI: …"
                         (truncate-string-to-width
                          (substring line 9) (- width 10)
                          (- (string-width line) width)))))
    (message "%s" line)))

(cl-defmethod eglot-handle-notification
  ((_server metaai-server) (_method (eql $/progress)) &key _token value)
  "Show each report (the answer's current last line) in the echo area."
  (let ((kind (plist-get value :kind))
        (text (plist-get value :message)))
    (pcase kind
      ("begin" (metaai--echo (or (plist-get value :title) "Meta AI")))
      ("report" (when (and text (not (string-empty-p text)))
                  (metaai--echo text)))
      ("end" (metaai--echo (or text "done"))))))

(defvar-local metaai--last-edit nil
  "(LABEL . UNDO-LIST) after the latest answer edit applied in this buffer.")

(defun metaai--edit-buffers (edit)
  "The live buffers visiting the documents of the workspace EDIT."
  (let (buffers)
    (seq-doseq (change (plist-get edit :documentChanges))
      (let* ((uri (plist-get (plist-get change :textDocument) :uri))
             (buffer (and uri (find-buffer-visiting (eglot--uri-to-path uri)))))
        (when buffer (push buffer buffers))))
    buffers))

(defun metaai--join-undo (label)
  "Drop the undo boundaries put after the previous edit of answer LABEL.
Emacs may close an undo group between two edits of one answer (its timer
does every 10 s); when nothing else changed the buffer since, it goes."
  (when (equal (car metaai--last-edit) label)
    (while (and (consp buffer-undo-list) (null (car buffer-undo-list))
                (eq (cdr buffer-undo-list) (cdr metaai--last-edit)))
      (setq buffer-undo-list (cdr buffer-undo-list)))))

(cl-defmethod eglot-handle-request :around
  ((_server metaai-server) (_method (eql workspace/applyEdit)) &rest params)
  "Apply an answer's edits (labelled \"Meta AI #N\"): no prompt, one undo."
  (let ((label (plist-get params :label)))
    (if (not (and (stringp label) (string-prefix-p "Meta AI" label)))
        (cl-call-next-method)
      (let ((buffers (metaai--edit-buffers (plist-get params :edit))))
        (dolist (buffer buffers)
          (with-current-buffer buffer (metaai--join-undo label)))
        (prog1 (let ((eglot-confirm-server-initiated-edits nil)
                     ;; eglot's "Edit successful!" would hide the progress.
                     (inhibit-message t))
                 (cl-call-next-method))
          (dolist (buffer buffers)
            (with-current-buffer buffer
              (setq metaai--last-edit (cons label buffer-undo-list)))))))))

;;; Commands

(defun metaai--server ()
  "The eglot server of this buffer, or an error saying how to start one."
  (or (eglot-current-server)
      (user-error "No metaai-ls here: (metaai-setup '(%s)), then M-x eglot"
                  major-mode)))

(defun metaai--uri ()
  "The current buffer's file as a URI."
  (eglot--path-to-uri
   (or buffer-file-name (user-error "This buffer visits no file"))))

(defun metaai--range ()
  "The region as an LSP range, or the current line's."
  (let ((beg (if (use-region-p) (region-beginning) (line-beginning-position)))
        (end (if (use-region-p) (region-end) (line-end-position))))
    (list :start (eglot--pos-to-lsp-position beg)
          :end (eglot--pos-to-lsp-position end))))

(defun metaai--request (command argument on-result)
  "Send COMMAND with ARGUMENT in the background; ON-RESULT gets the result.
No time-out: an answer may take minutes.  Errors go to the echo area.
The buffer's pending changes go first (eglot sends them from an idle timer),
so that the server reads the text the user sees."
  (when (bound-and-true-p eglot--managed-mode)
    (eglot--signal-textDocument/didChange))
  (jsonrpc-async-request
   (metaai--server) :workspace/executeCommand
   `(:command ,command :arguments [,argument])
   :timeout nil
   :success-fn (lambda (result) (when on-result (funcall on-result result)))
   :error-fn (lambda (error)
               (message "Meta AI: %s" (plist-get error :message)))))

(defun metaai--show (name text &optional mode)
  "Show TEXT in the buffer NAME (in MODE, when it is defined)."
  (with-current-buffer (get-buffer-create name)
    (let ((inhibit-read-only t))
      (erase-buffer)
      (insert text))
    (when (and mode (fboundp mode)) (funcall mode))
    (goto-char (point-min))
    (display-buffer (current-buffer))))

(defun metaai--show-chat-answer (result)
  "Show a chat answer's text; errors and cancels were told by the server."
  (let ((text (plist-get result :text)))
    (when (and text (not (plist-get result :error))
               (not (plist-get result :cancelled)))
      (metaai--show "*Meta AI answer*" text 'markdown-mode))))

;;;###autoload
(defun metaai-ask (prompt &optional mode)
  "Ask Meta AI PROMPT about the region (or the current line).
MODE is \"replace\" (the region becomes the answer's code), \"insert\"
\(the answer goes below, as a comment) or \"chat\" (the answer in a
buffer); with a prefix argument it is asked, else `metaai-default-mode'."
  (interactive
   (list (read-string "Ask Meta AI: ")
         (if current-prefix-arg
             (completing-read "Mode: " '("replace" "insert" "chat") nil t)
           metaai-default-mode)))
  (let ((mode (or mode metaai-default-mode)))
    (metaai--request "metaai.ask"
                     (list :uri (metaai--uri) :range (metaai--range)
                           :prompt prompt :mode mode)
                     (and (equal mode "chat") #'metaai--show-chat-answer))))

(defun metaai--review (command)
  "Run the review COMMAND on the current buffer's latest answer."
  (metaai--request command (list :uri (metaai--uri)) nil))

;;;###autoload
(defun metaai-keep ()
  "Keep the latest Meta AI answer written into this buffer."
  (interactive)
  (metaai--review "metaai.keep"))

;;;###autoload
(defun metaai-discard ()
  "Put the original text back in place of the latest Meta AI answer."
  (interactive)
  (metaai--review "metaai.discard"))

;;;###autoload
(defun metaai-retry ()
  "Discard the latest Meta AI answer and ask again with the same prompt."
  (interactive)
  (metaai--review "metaai.retry"))

;;;###autoload
(defun metaai-cancel ()
  "Stop the Meta AI answers being written into this buffer."
  (interactive)
  (metaai--review "metaai.cancel"))

(defun metaai--report (command argument name failed)
  "Run COMMAND (it answers :ok and :report); show the report in buffer NAME.
FAILED says what went wrong when the report is not ok."
  (metaai--request command argument
                   (lambda (result)
                     (metaai--show name (or (plist-get result :report) ""))
                     (unless (eq (plist-get result :ok) t)
                       (message "Meta AI: %s (see %s)" failed name)))))

;;;###autoload
(defun metaai-doctor ()
  "Check the Meta AI setup step by step (as `metaai-ls doctor')."
  (interactive)
  (message "Meta AI: checking the setup…")
  (metaai--report "metaai.doctor" eglot--{} "*metaai doctor*"
                  "a setup check failed"))

;;;###autoload
(defun metaai-learn (file &optional forget)
  "Learn Meta's current web client from the browser capture FILE (a HAR).
With a prefix argument (FORGET), go back to the built-in values."
  (interactive
   (if current-prefix-arg
       (list nil t)
     (list (read-file-name "Browser capture (HAR): " nil nil t))))
  (metaai--report "metaai.learn"
                  (if forget '(:forget t) (list :file (expand-file-name file)))
                  "*metaai learn*" "learning failed"))

(provide 'metaai)
;;; metaai.el ends here
